using System.Diagnostics;
using MetaGpu.DevicePlugin;
using MetaGpu.Tests.Nvml;

namespace MetaGpu.Tests.DevicePlugin;

/// <summary>
/// The published binary sharing a plugin directory or a socket with another process: one daemon per directory, no
/// socket taken from a live server, and a directory too long for any socket refused with a reason.
/// </summary>
[Collection(FakeNvmlCollection.Name)]
public sealed class PluginDirectoryEndToEndTests : IAsyncLifetime
{
    private const string Resource = "cnvrg.io/metagpu";
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(15);
    private string _dir = "";
    private string _binary = "";

    public async Task InitializeAsync()
    {
        _dir = Directory.CreateTempSubdirectory("mg-dir-").FullName;
        _binary = await PublishedBinary.PathAsync();
    }

    public Task DisposeAsync()
    {
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
        }
        return Task.CompletedTask;
    }

    [Fact]
    public async Task ASecondDaemonOnTheSameDirectoryExitsOneNamingTheLockAndTheFirstKeepsServing()
    {
        await using var kubelet = await TestKubelet.StartAsync(_dir);
        await using var first = PluginProcess.Start(_binary, ["--kubelet-dir", _dir, "--simulate", "1"]);
        await kubelet.WaitForDevicesAsync(Resource, d => d.Count == 100, Wait);
        var socket = Path.Combine(_dir, SocketNames.EndpointFileName(Resource, _dir));
        var created = File.GetLastWriteTimeUtc(socket);

        await using var second = PluginProcess.Start(_binary, ["--kubelet-dir", _dir, "--simulate", "1"]);
        Assert.Equal(1, await second.WaitForExitAsync(Wait));
        var lockFile = Path.Combine(_dir, PluginDirectory.LockFileName);
        Assert.Contains($"another metagpu (pid {first.Id}) is already serving kubelet plugin directory {_dir}: it holds the lock {lockFile}", second.LogText);

        // The first one never noticed: same socket file, one registration, still admitting pods.
        await Task.Delay(1000);
        Assert.False(first.HasExited);
        Assert.True(File.Exists(socket));
        Assert.Equal(created, File.GetLastWriteTimeUtc(socket));
        Assert.Equal(1, kubelet.Registrations);
        var (ids, _) = await kubelet.Plugin(Resource)!.AdmitAsync(10);
        Assert.Equal(10, ids.Count);

        // The lock goes with its holder: once the first is gone, a new daemon starts.
        Assert.Equal(0, await first.TerminateAsync(Wait));
        await using var third = PluginProcess.Start(_binary, ["--kubelet-dir", _dir, "--simulate", "1"]);
        await kubelet.WaitForDevicesAsync(Resource, d => d.Count == 100 && kubelet.Registrations == 2, Wait);
    }

    [Fact]
    public async Task ServeOntoALiveSocketFailsWithoutDeletingItAndOntoAStaleOneWorks()
    {
        var live = Path.Combine(_dir, "live.sock");
        await using var owner = PluginProcess.StartCommand(_binary, "serve", ["--socket", live]);
        await UntilServingAsync(live);
        var created = File.GetLastWriteTimeUtc(live);

        await using var intruder = PluginProcess.StartCommand(_binary, "serve", ["--socket", live]);
        Assert.Equal(1, await intruder.WaitForExitAsync(Wait));
        Assert.Contains($"socket {live} is in use by another process", intruder.LogText);
        Assert.Equal(created, File.GetLastWriteTimeUtc(live));
        Assert.Equal(0, (await RunAsync("probe", "--socket", live)).ExitCode);

        // A socket file whose server is gone (killed, no clean-up) is replaced.
        var stale = Path.Combine(_dir, "stale.sock");
        await using (var crashed = PluginProcess.StartCommand(_binary, "serve", ["--socket", stale]))
            await UntilServingAsync(stale);
        Assert.True(File.Exists(stale));
        Assert.NotEqual(0, (await RunAsync("probe", "--socket", stale)).ExitCode);
        await using var successor = PluginProcess.StartCommand(_binary, "serve", ["--socket", stale]);
        await UntilServingAsync(stale);
        Assert.False(successor.HasExited);
    }

    [Fact]
    public async Task APluginDirectoryTooLongForAnySocketIsAClearError()
    {
        var deep = _dir;
        while (System.Text.Encoding.UTF8.GetByteCount(deep) < 100)
            deep = Path.Combine(deep, "deeper-directory");
        Directory.CreateDirectory(deep);

        await using var plugin = PluginProcess.Start(_binary, ["--kubelet-dir", deep, "--simulate", "1"]);
        Assert.Equal(1, await plugin.WaitForExitAsync(Wait));
        Assert.Contains($"kubelet plugin directory {deep} is", plugin.LogText);
        Assert.Contains("a Unix socket path may have at most 107 bytes", plugin.LogText);
        Assert.DoesNotContain("Exception", plugin.LogText);
        Assert.DoesNotContain("Arg_", plugin.LogText);
    }

    private async Task UntilServingAsync(string socket)
    {
        var deadline = DateTime.UtcNow + Wait;
        while (true)
        {
            var probe = await RunAsync("probe", "--socket", socket);
            if (probe.ExitCode == 0)
                return;
            Assert.True(DateTime.UtcNow < deadline, $"nothing served on {socket} within {Wait.TotalSeconds} s: {probe.Output}");
            await Task.Delay(100);
        }
    }

    private async Task<(int ExitCode, string Output)> RunAsync(params string[] args)
    {
        var psi = new ProcessStartInfo(_binary) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args)
            psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync().WaitAsync(Wait);
        return (p.ExitCode, await stdout + await stderr);
    }
}
