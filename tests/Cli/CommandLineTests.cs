using MetaGpu.DevicePlugin.Config;

namespace MetaGpu.Tests.Cli;

/// <summary>The command line as a careless user meets it: help everywhere, every mistake exit 2 naming what to fix.</summary>
public sealed class CommandLineTests
{
    public static TheoryData<string, string> EveryCommandAndHelpFlag()
    {
        var data = new TheoryData<string, string>();
        foreach (var command in Program.Commands)
        {
            data.Add(command.Name, "--help");
            data.Add(command.Name, "-h");
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(EveryCommandAndHelpFlag))]
    public async Task EveryCommandHasHelpOnStdoutWithExitCodes(string command, string flag)
    {
        var r = await ProductProcess.RunAsync([command, flag]);
        Assert.True(r.ExitCode == 0, $"exit {r.ExitCode}\n{r.Stdout}{r.Stderr}");
        Assert.Contains($"Usage: metagpu {command}", r.Stdout);
        Assert.Contains("Exit codes:", r.Stdout);
        Assert.Equal("", r.Stderr);
    }

    [Fact]
    public async Task HelpAmongOtherOptionsStillOnlyShowsHelp()
    {
        var dir = Directory.CreateTempSubdirectory("mg-help-").FullName;
        try
        {
            // -h must never start the daemon, wherever it is on the line.
            var r = await ProductProcess.RunAsync(["start", "--simulate", "2", "--kubelet-dir", dir, "-h"], timeout: TimeSpan.FromSeconds(30));
            Assert.Equal(0, r.ExitCode);
            Assert.Contains("Usage: metagpu start", r.Stdout);
            Assert.Empty(Directory.GetFileSystemEntries(dir));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public async Task StartHelpListsDefaultsEnvironmentSignalsAndExitCodes()
    {
        var r = await ProductProcess.RunAsync(["start", "--help"]);
        foreach (var expected in new[]
        {
            "--policy", "default: packed", "METAGPU_POLICY", "default: /var/lib/kubelet/device-plugins", "METAGPU_KUBELET_DIR",
            "--state-dir", "default: /var/lib/metagpu", "METAGPU_STATE_DIR",
            "--metrics-address", "default: :9400", "METAGPU_METRICS_ADDRESS", "--enforcement", "off|report|kill", "METAGPU_ENFORCEMENT",
            "--usage-interval", "default: 1s", "--pod-resources-socket", "default: /var/lib/kubelet/pod-resources/kubelet.sock", "--proc-root",
            "--log-format", "text|systemd|json", "METAGPU_LOG_FORMAT", "SIGHUP", "  2   ", "  4   ",
            "--mgctl-path", "default: /usr/local/bin/mgctl", "METAGPU_MGCTL_PATH",
        })
        {
            Assert.Contains(expected, r.Stdout);
        }
    }

    [Fact]
    public async Task TheOverviewListsEveryCommand()
    {
        var help = await ProductProcess.RunAsync(["--help"]);
        Assert.Equal(0, help.ExitCode);
        Assert.All(Program.Commands, c => Assert.Contains($"  {c.Name} ", help.Stdout));

        var none = await ProductProcess.RunAsync([]);
        Assert.Equal(2, none.ExitCode);
        Assert.Contains("Usage: metagpu", none.Stderr);

        var unknown = await ProductProcess.RunAsync(["frobnicate"]);
        Assert.Equal(2, unknown.ExitCode);
        Assert.Contains("unknown command 'frobnicate'", unknown.Stderr);
    }

    [Theory]
    [InlineData("start", "stray")]
    [InlineData("start", "--simulate", "2", "--no-such-flag", "x")]
    [InlineData("gpus", "--simulate", "2", "extra")]
    [InlineData("probe", "--socket", "/nonexistent.sock", "extra")]
    [InlineData("serve", "--socket", "/nonexistent.sock", "--bogus")]
    [InlineData("demo", "extra")]
    [InlineData("version", "extra")]
    public async Task StrayArgumentsAndUnknownOptionsAreUsageErrors(params string[] args)
    {
        var r = await ProductProcess.RunAsync(args, timeout: TimeSpan.FromSeconds(30));
        Assert.True(r.ExitCode == 2, $"exit {r.ExitCode}\n{r.Stdout}{r.Stderr}");
        Assert.Contains("is not recognized", r.Stderr);
        Assert.Contains($"metagpu {args[0]} --help", r.Stderr);
        Assert.Equal("", r.Stdout);
    }

    [Theory]
    [InlineData("--policy", "tight", "--policy")]
    [InlineData("--spanning", "sometimes", "--spanning")]
    [InlineData("--meta-gpus", "abc", "--meta-gpus")]
    [InlineData("--meta-gpus", "0", "--meta-gpus")]
    [InlineData("--ignore-xids", "x", "--ignore-xids")]
    [InlineData("--resource-name", "no-slash", "--resource-name")]
    [InlineData("--log-format", "xml", "--log-format")]
    [InlineData("--simulate", "2xB200", "--simulate")]
    [InlineData("--idle-timeout", "soon", "--idle-timeout")]
    [InlineData("--state-dir", "", "--state-dir")]
    [InlineData("--proc-root", "", "--proc-root")]
    [InlineData("--pod-resources-socket", "", "--pod-resources-socket")]
    [InlineData("--usage-interval", "soon", "--usage-interval")]
    [InlineData("--usage-interval", "10ms", "--usage-interval")]
    [InlineData("--enforcement", "evict", "--enforcement")]
    [InlineData("--grace-period", "-1s", "--grace-period")]
    [InlineData("--metrics-address", "9400", "--metrics-address")]
    [InlineData("--metrics-address", "[::1]:99999", "--metrics-address")]
    [InlineData("--mgctl-path", "bin/mgctl", "--mgctl-path")]
    [InlineData("--mgctl-path", "/usr/local/bin/", "--mgctl-path")]
    [InlineData("--mgctl-path", "/usr/../etc/mgctl", "--mgctl-path")]
    [InlineData("--mgctl-path", "/run/metagpu/mgctl", "--mgctl-path")]
    public async Task AnInvalidFlagValueIsExit2NamingTheFlag(string flag, string value, string named)
    {
        var dir = Directory.CreateTempSubdirectory("mg-flag-").FullName;
        try
        {
            var r = await ProductProcess.RunAsync(["start", "--kubelet-dir", dir, flag, value],
                new Dictionary<string, string?> { ["METAGPU_SIMULATE"] = flag == "--simulate" ? null : "2" }, TimeSpan.FromSeconds(30));
            Assert.True(r.ExitCode == 2, $"exit {r.ExitCode}\n{r.Stderr}");
            Assert.Contains(named + ":", r.Stderr);
            Assert.Contains(value, r.Stderr);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Theory]
    [InlineData("METAGPU_POLICY", "tight")]
    [InlineData("METAGPU_META_GPUS", "abc")]
    [InlineData("METAGPU_DEVICE_LIST_STRATEGY", "nvidia")]
    [InlineData("METAGPU_LOG_FORMAT", "xml")]
    [InlineData("METAGPU_SIMULATE", "2xB200")]
    [InlineData("METAGPU_IDLE_TIMEOUT", "-5s")]
    [InlineData("METAGPU_ENFORCEMENT", "evict")]
    [InlineData("METAGPU_GRACE_PERIOD", "later")]
    [InlineData("METAGPU_USAGE_INTERVAL", "1x")]
    [InlineData("METAGPU_METRICS_ADDRESS", "localhost:9400")]
    public async Task AnInvalidEnvironmentValueIsExit2NamingTheVariable(string variable, string value)
    {
        var dir = Directory.CreateTempSubdirectory("mg-env-").FullName;
        try
        {
            var env = new Dictionary<string, string?> { [variable] = value };
            var args = new List<string> { "start", "--kubelet-dir", dir };
            if (variable != "METAGPU_SIMULATE")
                args.AddRange(["--simulate", "2"]);
            var r = await ProductProcess.RunAsync(args, env, TimeSpan.FromSeconds(30));
            Assert.True(r.ExitCode == 2, $"exit {r.ExitCode}\n{r.Stderr}");
            Assert.Contains(variable, r.Stderr);
            Assert.Contains(value, r.Stderr);
            Assert.DoesNotContain("--" + variable["METAGPU_".Length..].ToLowerInvariant().Replace('_', '-') + ":", r.Stderr);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Theory]
    [InlineData("--simulate", "99", null, "--simulate: the GPU count must be 1..64")]
    [InlineData(null, null, "99", "METAGPU_SIMULATE=99: the GPU count must be 1..64")]
    [InlineData(null, null, "2xB200", "METAGPU_SIMULATE=2xB200: unknown GPU model 'B200'")]
    public async Task SimulateErrorsNameTheirSourceOnce(string? flag, string? value, string? variable, string expected)
    {
        var args = new List<string> { "gpus" };
        if (flag is not null)
            args.AddRange([flag, value!]);
        var r = await ProductProcess.RunAsync(args, new Dictionary<string, string?> { ["METAGPU_SIMULATE"] = variable });
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("metagpu gpus: " + expected, r.Stderr);
    }

    [Theory]
    [InlineData("1m30s")]
    [InlineData("1.5s")]
    [InlineData("500ms")]
    [InlineData("2s")]
    [InlineData("0.01h")]
    public async Task TimeoutTakesTheConfigFilesDurations(string duration)
    {
        Assert.True(GoDuration.TryParse(duration, out _), "the config file's parser takes it");
        var r = await ProductProcess.RunAsync(["probe", "--socket", "/nonexistent/metagpu.sock", "--timeout", duration]);
        // Parsed: the probe ran and found no socket (1), not a usage error (2).
        Assert.True(r.ExitCode == 1, $"exit {r.ExitCode}\n{r.Stderr}");
        Assert.Contains("/nonexistent/metagpu.sock", r.Stderr);
    }

    [Theory]
    [InlineData("2")]
    [InlineData("2x")]
    [InlineData("-1s")]
    public async Task TimeoutRefusesWhatTheConfigFileRefuses(string duration)
    {
        Assert.False(GoDuration.TryParse(duration, out _));
        var r = await ProductProcess.RunAsync(["probe", "--socket", "/nonexistent/metagpu.sock", "--timeout", duration]);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("--timeout:", r.Stderr);
    }

    [Fact]
    public async Task OptionsAlsoTakeTheEqualsForm()
    {
        var r = await ProductProcess.RunAsync(["gpus", "--simulate=2", "--output=json"]);
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.StartsWith("{", r.Stdout);
    }
}
