using System.Diagnostics;
using System.Text.Json;
using MetaGpu.Tests.Cli;

namespace MetaGpu.Tests.Control.Cli;

/// <summary>
/// The published binary as a container runs it: invoked as <c>mgctl</c> (a link's name, as the mount at
/// /usr/local/bin/mgctl gives it) and as <c>metagpu ctl</c>, against a stand-in daemon; Ctrl-C ending a watch; and no
/// file written anywhere it could write.
/// </summary>
public sealed class MgctlProcessTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private async Task<string> MgctlAsync()
    {
        var link = Path.Combine(_dir.Path, "bin", "mgctl");
        if (!File.Exists(link))
        {
            Directory.CreateDirectory(Path.GetDirectoryName(link)!);
            File.CreateSymbolicLink(link, await ProductProcess.BinaryAsync());
        }
        return link;
    }

    /// <summary>Runs <paramref name="program"/> with a clean environment: only PATH, HOME, TMPDIR and the given ones.</summary>
    private static async Task<ProductProcess.Result> RunAsync(string program, string[] args, string? cwd = null, IDictionary<string, string>? env = null)
    {
        var psi = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = cwd ?? Path.GetTempPath() };
        foreach (var a in args)
            psi.ArgumentList.Add(a);
        psi.Environment.Clear();
        psi.Environment["PATH"] = "/usr/bin:/bin";
        foreach (var (k, v) in env ?? new Dictionary<string, string>())
            psi.Environment[k] = v;
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
        return new ProductProcess.Result(p.ExitCode, await stdout, await stderr);
    }

    [Fact]
    public async Task InvokedAsMgctlItIsMgctl()
    {
        await using var daemon = new StandInDaemon();
        Scenarios.AsAllocation(daemon.Control);
        var mgctl = await MgctlAsync();

        var json = await RunAsync(mgctl, ["get", "processes", "-o", "json"], env: new Dictionary<string, string> { ["METAGPU_CTL_SOCKET"] = daemon.SocketPath });
        Assert.True(json.ExitCode == 0, json.Stderr);
        using (var doc = JsonDocument.Parse(json.Stdout))
            Assert.Equal("team-a", doc.RootElement.GetProperty("containers")[0].GetProperty("allocation").GetProperty("namespace").GetString());

        var table = await RunAsync(mgctl, ["get", "devices", "--socket", daemon.SocketPath]);
        Assert.True(table.ExitCode == 0, table.Stderr);
        Assert.Contains("NVIDIA A100-SXM4-40GB", table.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("\u001b[", table.Stdout, StringComparison.Ordinal); // a pipe is no terminal

        var missing = await RunAsync(mgctl, ["info"], env: new Dictionary<string, string> { ["METAGPU_CTL_SOCKET"] = Path.Combine(_dir.Path, "none", "control.sock") });
        Assert.Equal(3, missing.ExitCode);
        Assert.StartsWith("mgctl: no MetaGPU socket at ", missing.Stderr, StringComparison.Ordinal);

        var usage = await RunAsync(mgctl, ["get", "pods"]);
        Assert.Equal(2, usage.ExitCode);
        Assert.StartsWith("mgctl: unknown resource 'pods'", usage.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task MetagpuCtlIsTheSameCommand()
    {
        await using var daemon = new StandInDaemon();
        Scenarios.AsNode(daemon.Control);
        var binary = await ProductProcess.BinaryAsync();
        var r = await RunAsync(binary, ["ctl", "get", "processes", "-o", "wide", "--socket", daemon.SocketPath]);
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Contains("team-b", r.Stdout, StringComparison.Ordinal);
        var help = await RunAsync(binary, ["ctl", "--help"]);
        Assert.Equal(0, help.ExitCode);
        Assert.StartsWith("Usage: metagpu ctl COMMAND [options]", help.Stdout, StringComparison.Ordinal);
        var version = await RunAsync(binary, ["ctl", "version", "--socket", daemon.SocketPath]);
        Assert.Equal("mgctl 0.1.0\ndaemon 0.1.0\n".Replace("0.1.0\nd", $"{MetaGpu.Control.Cli.MgctlApp.ClientVersion}\nd"), version.Stdout);
    }

    [Fact]
    public async Task CtrlCEndsAWatchWithExitZero()
    {
        await using var daemon = new StandInDaemon();
        Scenarios.AsAllocation(daemon.Control);
        await using var watch = await ProductProcess.StartAsync(["ctl", "get", "processes", "-w", "--socket", daemon.SocketPath]);
        await watch.WaitForLineAsync("\"kind\":\"processes\"", TimeSpan.FromSeconds(60));
        watch.Signal(ProductProcess.Running.SIGINT);
        var r = await watch.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(0, r.ExitCode);
        Assert.Equal("", r.Stderr);
    }

    [Fact]
    public async Task OutputToOneFileSharedByStdoutAndStderrIsAppendedNotOverwritten()
    {
        // Regression: output through a FileStream on descriptor 1 was written at the stream's own offset, so a second
        // run (or stderr) writing to the same file overwrote what the first had written.
        var binary = await ProductProcess.BinaryAsync();
        var file = Path.Combine(_dir.Path, "out.txt");
        // One open file (not O_APPEND) for all three runs and both descriptors, as 'cmd >file 2>&1' gives.
        var r = await RunAsync("/bin/sh", ["-c", "{ \"$0\" ctl version; \"$0\" ctl bogus; \"$0\" ctl version; } >\"$OUT\" 2>&1", binary],
            env: new Dictionary<string, string> { ["OUT"] = file, ["METAGPU_CTL_SOCKET"] = Path.Combine(_dir.Path, "none.sock") });
        Assert.True(r.ExitCode == 0, r.Stderr);
        var text = File.ReadAllText(file);
        var version = $"mgctl {MetaGpu.Control.Cli.MgctlApp.ClientVersion}\n";
        var first = text.IndexOf(version, StringComparison.Ordinal);
        var bogus = text.IndexOf("metagpu ctl: unknown command 'bogus'", StringComparison.Ordinal);
        var last = text.LastIndexOf(version, StringComparison.Ordinal);
        Assert.True(first >= 0 && bogus > first && last > bogus, text);
    }

    [Fact]
    public async Task ItWritesNoFile()
    {
        await using var daemon = new StandInDaemon();
        Scenarios.AsAllocation(daemon.Control);
        var mgctl = await MgctlAsync();
        var cwd = Directory.CreateDirectory(Path.Combine(_dir.Path, "cwd")).FullName;
        var home = Directory.CreateDirectory(Path.Combine(_dir.Path, "home")).FullName;
        var tmp = Directory.CreateDirectory(Path.Combine(_dir.Path, "tmp")).FullName;
        var env = new Dictionary<string, string> { ["HOME"] = home, ["TMPDIR"] = tmp, ["METAGPU_CTL_SOCKET"] = daemon.SocketPath, ["XDG_RUNTIME_DIR"] = tmp };
        foreach (var args in new[] { ["get", "processes"], ["get", "devices", "-o", "json"], ["info"], ["ping"], ["version"], ["kill", "118"], ["help"], ["bogus"],
                     new[] { "info", "--socket", Path.Combine(_dir.Path, "none.sock") } })
            await RunAsync(mgctl, args, cwd, env);
        Assert.Empty(Directory.EnumerateFileSystemEntries(cwd));
        Assert.Empty(Directory.EnumerateFileSystemEntries(home));
        Assert.Empty(Directory.EnumerateFileSystemEntries(tmp));
        Assert.Equal(["control.sock"], Directory.EnumerateFileSystemEntries(daemon.DirectoryPath).Select(Path.GetFileName));
    }
}
