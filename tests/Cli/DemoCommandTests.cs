namespace MetaGpu.Tests.Cli;

/// <summary><c>metagpu demo</c> as a newcomer runs it: a real run of the plugin, a readable story, exit 0, nothing left behind.</summary>
public sealed class DemoCommandTests
{
    [Fact]
    public async Task DemoRunsThePluginAndCleansUp()
    {
        var r = await ProductProcess.RunAsync(["demo"], timeout: TimeSpan.FromSeconds(60));
        Assert.True(r.ExitCode == 0, r.Stdout + r.Stderr);
        Assert.Contains("registered cnvrg.io/metagpu", r.Stdout);
        Assert.Contains("200 meta-devices, 200 healthy", r.Stdout);
        Assert.Contains("pod-a  30 (0.3 GPU)", r.Stdout);
        Assert.Contains("METAGPU_MAX_MEM=12288", r.Stdout);
        Assert.Contains("its allocation file, read-only at /etc/metagpu/allocation.json", r.Stdout);
        Assert.Matches(@"state/allocations/[0-9a-f]{40}\.json: cnvrg\.io/metagpu, 30 meta-devices, GPU 0 share 0\.3 \(12288 MiB\), memory limit 12288 MiB", r.Stdout);
        Assert.Contains("pod-d  150 (1.5 GPU)  0+1", r.Stdout);
        Assert.Contains("100 healthy, 100 unhealthy", r.Stdout);
        Assert.Contains("all 200 healthy again", r.Stdout);
        Assert.Contains("0 plugin sockets left", r.Stdout);
        Assert.Equal("", r.Stderr);
        // Its own directory is gone. (Not "no new metagpu-demo-* directory": SignalTests runs a demo at the same time,
        // and this test failed when that one's directory appeared between the two listings.)
        var line = r.Stdout.Split('\n').Single(l => l.Contains("Plugin directory (temporary): ", StringComparison.Ordinal));
        var directory = line[(line.IndexOf(": ", StringComparison.Ordinal) + 2)..].Trim();
        Assert.StartsWith(Path.Combine(Path.GetTempPath(), "metagpu-demo-"), directory, StringComparison.Ordinal);
        Assert.False(Directory.Exists(directory), $"{directory} is left behind");
    }
}
