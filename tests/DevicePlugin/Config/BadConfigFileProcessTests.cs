using MetaGpu.Tests.DevicePlugin;
using Xunit.Abstractions;
using static MetaGpu.Tests.DevicePlugin.Config.BadConfigFiles;

namespace MetaGpu.Tests.DevicePlugin.Config;

/// <summary>
/// The published binary (<c>metagpu start --simulate</c>) given each bad config path, at start and on live reload. A
/// process, because what these inputs did before was kill the process (a stack overflow no test host survives), hang
/// it (a FIFO) or grow it to gigabytes (<c>/dev/zero</c>).
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class BadConfigFileProcessTests(ITestOutputHelper output) : IAsyncLifetime
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(20);
    private string _dir = "";
    private string _binary = "";

    public async Task InitializeAsync()
    {
        _dir = Directory.CreateTempSubdirectory("mg-badcfg-").FullName;
        _binary = await PublishedBinary.PathAsync();
    }

    public Task DisposeAsync()
    {
        try
        {
            foreach (var f in Directory.EnumerateFiles(_dir, "*", SearchOption.AllDirectories))
                File.SetUnixFileMode(f, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
        }
        return Task.CompletedTask;
    }

    private static string Valid(int metaGpus) => $"resources:\n  - name: cnvrg.io/metagpu\n    metaGpus: {metaGpus}\n";

    private PluginProcess Start(string launcher, string config) =>
        PluginProcess.Start(launcher, ["--kubelet-dir", _dir, "--simulate", "1", "--config", config]);

    [Theory]
    [InlineData(Kind.Nested)]
    [InlineData(Kind.TooLarge)]
    [InlineData(Kind.ShadowLike)]
    [InlineData(Kind.Directory)]
    [InlineData(Kind.Fifo)]
    [InlineData(Kind.DevZero)]
    [InlineData(Kind.DevUrandom)]
    [InlineData(Kind.Unreadable)]
    public async Task AtStartABadPathEndsTheDaemonWithExit1AndTheReason(Kind kind)
    {
        var launcher = kind == Kind.Unreadable ? UnreadableCapableLauncher(_binary, _dir) : _binary;
        if (launcher is null)
        {
            output.WriteLine("this machine cannot make a file unreadable for the daemon (root without setpriv); not checked here");
            return;
        }
        var config = Path.Combine(_dir, "config.yaml");
        Put(kind, config);

        await using var plugin = Start(launcher, config);
        var exited = await WaitForExitAsync(plugin, Wait);
        if (!exited)
        {
            // It hangs (the FIFO did): it must at least stop on SIGTERM, as a pod being deleted asks it to.
            var stopped = true;
            try
            {
                await plugin.TerminateAsync(TimeSpan.FromSeconds(5));
            }
            catch (TimeoutException)
            {
                stopped = false;
            }
            Assert.Fail($"still running {Wait.TotalSeconds} s after start with a {kind} config; SIGTERM {(stopped ? "stopped it" : "was ignored too")}; log:\n{plugin.LogText}");
        }
        // Exited; its last lines may still be on their way through the pipe.
        for (var i = 0; i < 100 && !plugin.LogText.Contains("invalid configuration", StringComparison.Ordinal); i++)
            await Task.Delay(50);
        output.WriteLine(plugin.LogText);
        Assert.True(plugin.ExitCode == 1, $"exit {plugin.ExitCode} (139 is a crash); log:\n{plugin.LogText}");
        Assert.Contains("invalid configuration: " + config, plugin.LogText);
        Assert.Contains(Expected(kind), plugin.LogText);
        Assert.DoesNotContain("$6$", plugin.LogText);
        Assert.DoesNotContain(Secret[..6], plugin.LogText);
    }

    [Fact]
    public async Task OnReloadEveryBadPathIsRejectedAndTheNextGoodEditStillApplies()
    {
        var launcher = UnreadableCapableLauncher(_binary, _dir);
        var kinds = launcher is null ? All.Where(k => k != Kind.Unreadable).ToArray() : All;
        if (launcher is null)
            output.WriteLine("this machine cannot make a file unreadable for the daemon (root without setpriv); that step is left out");
        var config = Path.Combine(_dir, "config.yaml");
        PutValid(config, Valid(10));
        await using var plugin = Start(launcher ?? _binary, config);
        await plugin.WaitForLogAsync("cnvrg.io/metagpu = 10 meta-devices", Wait);

        var metaGpus = 10;
        var rejections = 0;
        foreach (var kind in kinds)
        {
            Put(kind, config);
            await WaitForLogLineAsync(plugin, l => l.Contains("configuration change rejected", StringComparison.Ordinal)
                && l.Contains(Expected(kind), StringComparison.Ordinal), $"the rejection of {kind}");
            rejections++;

            PutValid(config, Valid(++metaGpus));
            await WaitForLogLineAsync(plugin, l => l.Contains("configuration change applied", StringComparison.Ordinal)
                && l.Contains($"cnvrg.io/metagpu = {metaGpus} meta-devices", StringComparison.Ordinal), $"the valid edit after {kind}");
            Assert.False(plugin.HasExited, $"exited after {kind}; log:\n{plugin.LogText}");
        }
        output.WriteLine(plugin.LogText);
        Assert.Equal(kinds.Length, rejections);
        Assert.DoesNotContain("$6$", plugin.LogText);
        Assert.DoesNotContain(Secret[..6], plugin.LogText);
        Assert.Equal(0, await plugin.TerminateAsync(Wait));
    }

    private static async Task WaitForLogLineAsync(PluginProcess plugin, Func<string, bool> match, string what)
    {
        var deadline = DateTime.UtcNow + Wait;
        while (!plugin.Log.Any(match))
        {
            if (plugin.HasExited)
                Assert.Fail($"the daemon exited ({plugin.ExitCode}; 139 is a crash) waiting for {what}; log:\n{plugin.LogText}");
            if (DateTime.UtcNow > deadline)
                Assert.Fail($"no log line for {what} within {Wait.TotalSeconds} s; log:\n{plugin.LogText}");
            await Task.Delay(50);
        }
    }

    private static async Task<bool> WaitForExitAsync(PluginProcess plugin, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!plugin.HasExited)
        {
            if (DateTime.UtcNow > deadline)
                return false;
            await Task.Delay(50);
        }
        return true;
    }
}
