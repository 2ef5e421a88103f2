using MetaGpu.Control.Cli;

namespace MetaGpu.Tests.Control.Cli;

/// <summary>mgctl's command line: what it takes, and a usage error (exit 2, the command's usage on stderr) for the rest.</summary>
public sealed class MgctlUsageTests
{
    private static MgctlCommand Parsed(params string[] args)
    {
        var p = MgctlCommandLine.Parse(args);
        Assert.True(p.Command is not null, p.Error);
        return p.Command!;
    }

    [Theory]
    [InlineData(MgctlVerb.GetDevices, "get", "devices")]
    [InlineData(MgctlVerb.GetDevices, "get", "device")]
    [InlineData(MgctlVerb.GetDevices, "get", "gpus")]
    [InlineData(MgctlVerb.GetProcesses, "get", "processes")]
    [InlineData(MgctlVerb.GetProcesses, "get", "procs")]
    [InlineData(MgctlVerb.GetProcesses, "get", "ps")]
    [InlineData(MgctlVerb.GetProcesses, "ps")]
    [InlineData(MgctlVerb.Info, "info")]
    [InlineData(MgctlVerb.Ping, "ping")]
    [InlineData(MgctlVerb.Version, "version")]
    public void VerbsAndTheirAliases(MgctlVerb verb, params string[] args) => Assert.Equal(verb, Parsed(args).Verb);

    [Fact]
    public void OptionsGoBeforeOrAfterTheCommandInEveryForm()
    {
        foreach (var args in new[]
        {
            new[] { "-o", "json", "get", "processes", "-w", "--socket", "/s.sock", "--timeout", "2s" },
            ["get", "-ojson", "processes", "--watch", "--socket=/s.sock", "--timeout=2s"],
            ["--output=json", "--timeout", "2s", "ps", "-w", "--socket", "/s.sock"],
        })
        {
            var c = Parsed(args);
            Assert.Equal(MgctlVerb.GetProcesses, c.Verb);
            Assert.Equal(OutputFormat.Json, c.Output);
            Assert.True(c.Watch);
            Assert.Equal("/s.sock", c.Socket);
            Assert.Equal(TimeSpan.FromSeconds(2), c.Timeout);
        }
    }

    [Fact]
    public void DefaultsAreTableFiveSecondsAndNoSocket()
    {
        var c = Parsed("get", "devices");
        Assert.Equal(OutputFormat.Table, c.Output);
        Assert.Equal(TimeSpan.FromSeconds(5), c.Timeout);
        Assert.Null(c.Socket);
        Assert.False(c.Watch);
    }

    [Theory]
    [InlineData(KillSignal.Term)]
    [InlineData(KillSignal.Term, "-s", "TERM")]
    [InlineData(KillSignal.Term, "-s", "sigterm")]
    [InlineData(KillSignal.Term, "--signal", "15")]
    [InlineData(KillSignal.Kill, "-s", "KILL")]
    [InlineData(KillSignal.Kill, "-s9")]
    [InlineData(KillSignal.Kill, "--signal=SIGKILL")]
    [InlineData(KillSignal.Int, "-s", "int")]
    [InlineData(KillSignal.Int, "--signal", "2")]
    public void KillTakesThreeSignalsByNameOrNumber(KillSignal signal, params string[] options)
    {
        var c = Parsed(["kill", "4242", .. options]);
        Assert.Equal(4242, c.Pid);
        Assert.Equal(signal, c.Signal);
    }

    [Theory]
    [InlineData("unknown command 'frobnicate'", HelpTopic.Overview, "frobnicate")]
    [InlineData("no command given", HelpTopic.Overview)]
    [InlineData("no command given", HelpTopic.Overview, "-o", "json")]
    [InlineData("unknown option '--bogus'", HelpTopic.GetDevices, "get", "devices", "--bogus")]
    [InlineData("unknown option '-x'", HelpTopic.GetProcesses, "-x", "get", "processes")]
    [InlineData("unexpected argument 'extra'", HelpTopic.Info, "info", "extra")]
    [InlineData("unexpected argument '43'", HelpTopic.Kill, "kill", "42", "43")]
    [InlineData("get what? give 'devices' or 'processes'", HelpTopic.Get, "get")]
    [InlineData("unknown resource 'pods': give 'devices' or 'processes'", HelpTopic.Get, "get", "pods")]
    [InlineData("--output: 'yaml' is not one of table, wide, json", HelpTopic.GetDevices, "get", "devices", "--output", "yaml")]
    [InlineData("-o: 'yaml' is not one of table, wide, json", HelpTopic.GetDevices, "get", "devices", "-oyaml")]
    [InlineData("option '-o' needs a value: table, wide or json", HelpTopic.Info, "info", "-o")]
    [InlineData("--timeout: 'soon' is not a duration (e.g. 500ms, 5s, 1m)", HelpTopic.Ping, "ping", "--timeout", "soon")]
    [InlineData("--timeout: '0s' must be more than 0 and at most 24h", HelpTopic.Ping, "ping", "--timeout", "0s")]
    [InlineData("--timeout: '100h' must be more than 0 and at most 24h", HelpTopic.Ping, "ping", "--timeout=100h")]
    [InlineData("--socket: the socket path is empty", HelpTopic.Ping, "ping", "--socket", "")]
    [InlineData("kill needs a PID (the number 'mgctl get processes' shows)", HelpTopic.Kill, "kill")]
    [InlineData("'abc' is not a PID: give the number 'mgctl get processes' shows (1 or more)", HelpTopic.Kill, "kill", "abc")]
    [InlineData("'0' is not a PID: give the number 'mgctl get processes' shows (1 or more)", HelpTopic.Kill, "kill", "0")]
    [InlineData("'99999999999' is not a PID: give the number 'mgctl get processes' shows (1 or more)", HelpTopic.Kill, "kill", "99999999999")]
    [InlineData("unknown option '-1'", HelpTopic.Kill, "kill", "-1")]
    [InlineData("-s: 'HUP' is not one of TERM (15), KILL (9), INT (2)", HelpTopic.Kill, "kill", "42", "-s", "HUP")]
    [InlineData("'-w' is an option of 'get processes' only", HelpTopic.GetDevices, "get", "devices", "-w")]
    [InlineData("'--signal' is an option of 'kill' only", HelpTopic.Info, "info", "--signal", "KILL")]
    [InlineData("option '-w' takes no value (got '-wx')", HelpTopic.GetProcesses, "ps", "-wx")]
    [InlineData("option '--watch' takes no value (got '--watch=yes')", HelpTopic.GetProcesses, "ps", "--watch=yes")]
    [InlineData("no help for 'nothing': the commands are get, kill, info, ping, version, help", HelpTopic.Help, "help", "nothing")]
    public void MistakesAreNamedWithTheUsageOfTheirCommand(string message, HelpTopic topic, params string[] args)
    {
        var p = MgctlCommandLine.Parse(args);
        Assert.Null(p.Command);
        Assert.Equal(message, p.Error);
        Assert.Equal(topic, p.Topic);
    }

    [Fact]
    public void ArgumentsRepeatedInMessagesAreShortAndPrintable()
    {
        var p = MgctlCommandLine.Parse(["get", "\u001b[31m" + new string('a', 500)]);
        Assert.DoesNotContain("\u001b", p.Error!, StringComparison.Ordinal);
        Assert.True(p.Error!.Length < 120, p.Error);
    }

    [Fact]
    public void ParsingIsTotal()
    {
        // Any words, options or not: a command or an error, never an exception.
        string[] pieces = ["get", "devices", "processes", "ps", "kill", "1", "-s", "9", "-o", "json", "wide", "-w", "--", "-", "", "--socket", "=", "--timeout=", "help", "-h", "\0", "--signal=", "-ow"];
        var random = new Random(7);
        for (var i = 0; i < 20_000; i++)
        {
            var args = Enumerable.Range(0, random.Next(0, 7)).Select(_ => pieces[random.Next(pieces.Length)]).ToArray();
            var p = MgctlCommandLine.Parse(args);
            Assert.True((p.Command is null) != (p.Error is null), string.Join(' ', args));
        }
    }

    [Fact]
    public async Task AUsageErrorGoesToStderrWithTheUsageAndExitsTwo()
    {
        var r = await MgctlRun.RunAsync(MgctlRun.Env(null), "get", "devices", "--bogus");
        Assert.Equal(2, r.ExitCode);
        Assert.Equal("", r.Stdout);
        Assert.StartsWith("mgctl: unknown option '--bogus'\n\nUsage: mgctl get devices [options]\n", r.Stderr, StringComparison.Ordinal);
        Assert.EndsWith("Run 'mgctl help get devices' for more.\n", r.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task NoCommandShowsTheOverviewOnStderr()
    {
        var r = await MgctlRun.RunAsync(MgctlRun.Env(null));
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("Usage: mgctl COMMAND [options]", r.Stderr, StringComparison.Ordinal);
        Assert.Contains("get processes [-w]", r.Stderr, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Usage: mgctl COMMAND [options]", "help")]
    [InlineData("Usage: mgctl COMMAND [options]", "--help")]
    [InlineData("Usage: mgctl COMMAND [options]", "-h")]
    [InlineData("Usage: mgctl get devices [options]\n       mgctl get processes", "help", "get")]
    [InlineData("Usage: mgctl get devices [options]\n       mgctl get processes", "get", "--help")]
    [InlineData("Usage: mgctl get devices [options]\n\n", "get", "devices", "-h")]
    [InlineData("Usage: mgctl get processes [-w] [options]", "help", "get", "processes")]
    [InlineData("Usage: mgctl get processes [-w] [options]", "ps", "--help")]
    [InlineData("Usage: mgctl kill PID [-s SIGNAL] [options]", "help", "kill")]
    [InlineData("Usage: mgctl kill PID [-s SIGNAL] [options]", "kill", "--help")]
    [InlineData("Usage: mgctl info [options]", "info", "--help")]
    [InlineData("Usage: mgctl ping [options]", "help", "ping")]
    [InlineData("Usage: mgctl version [options]", "version", "-h")]
    [InlineData("Usage: mgctl help [COMMAND]", "help", "help")]
    public async Task HelpGoesToStdoutAndExitsZero(string expected, params string[] args)
    {
        var r = await MgctlRun.RunAsync(MgctlRun.Env(null), args);
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal("", r.Stderr);
        Assert.StartsWith(expected, r.Stdout, StringComparison.Ordinal);
        Assert.Contains("Exit codes:\n  0   done\n", r.Stdout, StringComparison.Ordinal);
        Assert.Contains("  4   permission denied by the daemon", r.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public void TheHelpNamesEveryAliasThatWorks()
    {
        var get = MgctlHelp.Full(HelpTopic.Get, "mgctl");
        foreach (var alias in MgctlCommandLine.DeviceNames.Concat(MgctlCommandLine.ProcessNames))
            Assert.Contains(alias, get);
        Assert.Contains("mgctl ps", MgctlHelp.Full(HelpTopic.Overview, "mgctl"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task InvokedAsMetagpuCtlTheHelpAndErrorsSaySo()
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        Assert.Equal(2, await MgctlApp.RunAsync(["kill"], stdout, stderr, MgctlRun.Env(null), "metagpu ctl"));
        Assert.StartsWith("metagpu ctl: kill needs a PID", stderr.ToString(), StringComparison.Ordinal);
        Assert.Contains("Usage: metagpu ctl kill PID", stderr.ToString(), StringComparison.Ordinal);
    }
}
