namespace MetaGpu.Tests.Cli;

/// <summary>Signals a terminal or an init system sends: each ends the command cleanly, leaving no socket or directory behind.</summary>
public sealed class SignalTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);

    [Theory]
    [InlineData(ProductProcess.Running.SIGHUP)]
    [InlineData(ProductProcess.Running.SIGTERM)]
    [InlineData(ProductProcess.Running.SIGINT)]
    public async Task StartStopsCleanlyAndRemovesItsSocket(int signal)
    {
        using var dir = new TempDir();
        await using var p = await ProductProcess.StartAsync(["start", "--simulate", "2", "--kubelet-dir", dir.Path]);
        await WaitForAsync(() => Directory.GetFiles(dir.Path, "metagpu-*.sock").Length == 1, p);
        p.Signal(signal);
        var r = await p.WaitAsync(Wait);
        Assert.True(r.ExitCode == 0, $"exit {r.ExitCode}\n{p.Output}");
        Assert.Contains("sockets removed", r.Stderr);
        Assert.Empty(Directory.GetFiles(dir.Path, "*.sock"));
    }

    [Fact]
    public async Task ServeStopsCleanlyOnSighup()
    {
        using var dir = new TempDir();
        var socket = Path.Combine(dir.Path, "health.sock");
        await using var p = await ProductProcess.StartAsync(["serve", "--socket", socket]);
        await p.WaitForLineAsync("serving grpc.health.v1", Wait);
        p.Signal(ProductProcess.Running.SIGHUP);
        var r = await p.WaitAsync(Wait);
        Assert.True(r.ExitCode == 0, $"exit {r.ExitCode}\n{p.Output}");
        Assert.False(File.Exists(socket), "the socket is removed");
    }

    [Fact]
    public async Task CtrlCOfTheDemoRemovesItsDirectory()
    {
        await using var p = await ProductProcess.StartAsync(["demo"]);
        var line = await p.WaitForLineAsync("Plugin directory (temporary): ", Wait);
        var directory = line[(line.IndexOf(": ", StringComparison.Ordinal) + 2)..].Trim();
        Assert.True(Directory.Exists(directory), directory);
        p.Signal(ProductProcess.Running.SIGINT);
        var r = await p.WaitAsync(Wait);
        Assert.False(Directory.Exists(directory), $"{directory} is left behind\n{p.Output}");
        Assert.True(r.ExitCode is 130 or 0, $"exit {r.ExitCode}\n{p.Output}"); // 0 when the demo had just finished
    }

    private static async Task WaitForAsync(Func<bool> condition, ProductProcess.Running p)
    {
        var deadline = DateTime.UtcNow + Wait;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException("condition not met in time:\n" + p.Output);
            await Task.Delay(20);
        }
    }
}
