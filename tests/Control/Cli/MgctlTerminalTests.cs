namespace MetaGpu.Tests.Control.Cli;

/// <summary>Colours (only on a terminal, never with NO_COLOR or TERM=dumb) and fitting a table to the terminal's width.</summary>
public sealed class MgctlTerminalTests
{
    private const string Escape = "\u001b[";

    private static async Task<MgctlRun.Result> RunAsync(Func<MetaGpu.Control.Cli.MgctlEnvironment, MetaGpu.Control.Cli.MgctlEnvironment> env, params string[] args)
    {
        await using var daemon = new StandInDaemon();
        Scenarios.AsAllocation(daemon.Control);
        return await MgctlRun.RunAsync(env(MgctlRun.Env(daemon.SocketPath)), args);
    }

    [Fact]
    public async Task OnATerminalTheHeaderIsBoldAndMemoryOverItsLimitRed()
    {
        var r = await RunAsync(e => e with { IsTerminal = true, Term = "xterm-256color" }, "get", "processes");
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("\u001b[1mMetaGPU 0.1.0", r.Stdout, StringComparison.Ordinal);
        // GPU 1: 5 GiB used of 4 GiB allowed; GPU 0's 5 of 12 is not red.
        Assert.Contains("\u001b[1;31m5120MiB / 4096MiB\u001b[0m", r.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("\u001b[1;31m5120MiB / 12288MiB", r.Stdout, StringComparison.Ordinal);
        var devices = await RunAsync(e => e with { IsTerminal = true }, "get", "devices");
        Assert.Contains("\u001b[1;31m5120MiB / 4096MiB\u001b[0m", devices.Stdout, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(false, null, "xterm")]
    [InlineData(true, "1", "xterm")]
    [InlineData(true, "anything", null)]
    [InlineData(true, null, "dumb")]
    public async Task NoColoursOffATerminalWithNoColorOrOnADumbTerminal(bool terminal, string? noColor, string? term)
    {
        var r = await RunAsync(e => e with { IsTerminal = terminal, NoColor = noColor, Term = term }, "get", "processes");
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.DoesNotContain(Escape, r.Stdout, StringComparison.Ordinal);
        var plain = await RunAsync(e => e, "get", "processes");
        Assert.Equal(plain.Stdout, r.Stdout);
    }

    [Fact]
    public async Task AnEmptyNoColorIsUnset()
    {
        var r = await RunAsync(e => e with { IsTerminal = true, NoColor = "" }, "get", "processes");
        Assert.Contains(Escape, r.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task JsonIsNeverColoured()
    {
        var r = await RunAsync(e => e with { IsTerminal = true }, "get", "processes", "-o", "json");
        Assert.DoesNotContain(Escape, r.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task OnANarrowTerminalCommandsAreCutToFit()
    {
        var wide = await RunAsync(e => e, "get", "processes");
        Assert.Contains(wide.Stdout.Split('\n'), l => l.Length > 80);
        foreach (var what in new[] { "processes", "devices" })
        {
            var narrow = await RunAsync(e => e with { IsTerminal = true, NoColor = "1", TerminalWidth = 80 }, "get", what);
            Assert.All(narrow.Stdout.Split('\n'), l => Assert.True(l.Length <= 80, $"{l.Length}: {l}"));
        }
        var r = await RunAsync(e => e with { IsTerminal = true, NoColor = "1", TerminalWidth = 80 }, "get", "processes");
        Assert.Contains("python train.py --epochs", r.Stdout, StringComparison.Ordinal);
        Assert.Contains("...", r.Stdout, StringComparison.Ordinal);
        // -o wide never cuts.
        var full = await RunAsync(e => e with { IsTerminal = true, TerminalWidth = 80 }, "get", "processes", "-o", "wide");
        Assert.Contains("python train.py --epochs 10 --data /data/imagenet --batch-size 256 --workers 8 --amp", full.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ControlCharactersInCommandsAreNotPrinted()
    {
        await using var daemon = new StandInDaemon();
        Scenarios.AsNode(daemon.Control);
        daemon.Control.Containers.Unallocated[0].Command = "evil\u001b]0;owned\u0007\u009b31m";
        foreach (var format in new[] { "table", "wide" })
        {
            var r = await MgctlRun.RunAsync(daemon, "get", "processes", "-o", format);
            Assert.DoesNotContain('\u001b', r.Stdout);
            Assert.DoesNotContain('\u0007', r.Stdout);
            Assert.DoesNotContain('\u009b', r.Stdout);
            Assert.Contains("evil?]0;owned??31m", r.Stdout, StringComparison.Ordinal);
        }
        var json = await MgctlRun.RunAsync(daemon, "get", "processes", "-o", "json");
        Assert.Contains(@"evil\u001B]0;owned\u0007", json.Stdout, StringComparison.OrdinalIgnoreCase);
    }
}
