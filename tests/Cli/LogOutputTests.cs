using System.Text.Json;

namespace MetaGpu.Tests.Cli;

/// <summary>
/// What an operator's log pipeline reads from <c>metagpu start</c>: in JSON, every line one valid object with the
/// standard level names, also for the errors that end the process before the daemon runs; the effective config in force.
/// </summary>
public sealed class LogOutputTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task JsonLogIsOneValidObjectPerLineWithStandardLevelNames()
    {
        using var dir = new TempDir();
        var config = dir.Write("config.yaml", "allocation:\n  policy: spread\n");
        await using var p = await ProductProcess.StartAsync(["start", "--simulate", "2", "--kubelet-dir", dir.Path, "--config", config, "--log-format", "json"]);
        await p.WaitForLineAsync("effective configuration", Wait);
        await p.WaitForLineAsync("no kubelet at", Wait); // a warning: nothing listens on kubelet.sock here
        // An error with quotes in it: a rejected config change.
        File.WriteAllText(config, "allocation:\n  policy: tight\n");
        await p.WaitForLineAsync("configuration change rejected", Wait);
        p.Signal(ProductProcess.Running.SIGTERM);
        var r = await p.WaitAsync(Wait);
        Assert.True(r.ExitCode == 0, p.Output);

        var lines = r.Stderr.TrimEnd('\n').Split('\n');
        var levels = new HashSet<string>();
        foreach (var line in lines)
        {
            using var json = JsonDocument.Parse(line);
            var root = json.RootElement;
            levels.Add(root.GetProperty("level").GetString()!);
            Assert.False(string.IsNullOrEmpty(root.GetProperty("message").GetString()), line);
            Assert.Matches(@"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", root.GetProperty("time").GetString());
            Assert.DoesNotContain("\\u0027", line, StringComparison.Ordinal);
        }
        Assert.Superset(new HashSet<string> { "information", "warning", "error" }, levels);
        Assert.Subset(new HashSet<string> { "trace", "debug", "information", "warning", "error", "critical" }, levels);
        var rejected = Assert.Single(lines, l => l.Contains("configuration change rejected", StringComparison.Ordinal));
        Assert.Contains("'tight'", rejected, StringComparison.Ordinal);
        Assert.Equal("error", JsonDocument.Parse(rejected).RootElement.GetProperty("level").GetString());
        Assert.Equal("", r.Stdout);
    }

    public static TheoryData<string[], Dictionary<string, string?>, int, string> ErrorsBeforeTheDaemonRuns() => new()
    {
        { ["start", "--nvml-library", "/nonexistent/libnvidia-ml.so.1", "--log-format", "json"], new(), 4, "not found" },
        { ["start", "--nvml-library", "/nonexistent/libnvidia-ml.so.1"], new() { ["METAGPU_LOG_FORMAT"] = "json" }, 4, "not found" },
        { ["start", "--simulate", "2xB200", "--log-format", "json"], new(), 2, "unknown GPU model" },
        { ["start"], new() { ["METAGPU_SIMULATE"] = "99", ["METAGPU_LOG_FORMAT"] = "json" }, 2, "METAGPU_SIMULATE" },
        { ["start", "--log-format", "json", "--bogus", "1"], new(), 2, "is not recognized" },
        { ["start", "--log-format=json", "--simulate", "2", "--policy", "tight"], new(), 2, "--policy" },
        { ["serve", "--log-format", "json"], new(), 2, "--socket" },
    };

    [Theory]
    [MemberData(nameof(ErrorsBeforeTheDaemonRuns))]
    public async Task ErrorsBeforeTheDaemonRunsAreJsonToo(string[] args, Dictionary<string, string?> env, int exitCode, string expected)
    {
        var r = await ProductProcess.RunAsync(args, env, Wait);
        Assert.True(r.ExitCode == exitCode, $"exit {r.ExitCode}\n{r.Stderr}");
        var line = Assert.Single(r.Stderr.TrimEnd('\n').Split('\n'));
        using var json = JsonDocument.Parse(line);
        Assert.Equal("error", json.RootElement.GetProperty("level").GetString());
        Assert.Contains(expected, json.RootElement.GetProperty("message").GetString());
        Assert.DoesNotContain("\\u0027", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SystemdFormatCarriesThePriority()
    {
        var r = await ProductProcess.RunAsync(["start", "--nvml-library", "/nonexistent/libnvidia-ml.so.1", "--log-format", "systemd"]);
        Assert.Equal(4, r.ExitCode);
        Assert.StartsWith("<3>", r.Stderr); // LOG_ERR
    }

    [Fact]
    public async Task TheEffectiveConfigIsLoggedAtStartAndAfterEachChange()
    {
        using var dir = new TempDir();
        var config = dir.Write("config.yaml", "allocation:\n  policy: spread\nhealth:\n  ignoreXids: [48]\n  recoveryQuietPeriod: 90s\n");
        await using var p = await ProductProcess.StartAsync(["start", "--simulate", "2", "--kubelet-dir", dir.Path, "--config", config, "--unignore-xids", "13"]);
        var atStart = await p.WaitForLineAsync("effective configuration", Wait);
        foreach (var expected in new[]
        {
            "policy spread", "spanning allow", "device-list strategy envvar", "ignored XIDs 31,43,45,48,68,109", "recovery after 90s",
            "cnvrg.io/metagpu = 200 meta-devices on GPU 0 (GPU-", ") x100, GPU 1 (GPU-",
        })
        {
            Assert.Contains(expected, atStart);
        }

        File.WriteAllText(config, """
            resources:
              - name: example.com/small
                metaGpus: 10
                gpus: [0]
              - name: example.com/big
                gpus: ["*"]
            deviceListStrategy: cdi-cri
            """);
        var changed = await p.WaitForLineAsync("configuration change applied", Wait);
        foreach (var expected in new[]
        {
            "policy packed", "device-list strategy cdi-cri", "ignored XIDs 31,43,45,68,109",
            "example.com/small = 10 meta-devices on GPU 0 (GPU-", "example.com/big = 100 meta-devices on GPU 1 (GPU-",
        })
        {
            Assert.Contains(expected, changed);
        }
        p.Signal(ProductProcess.Running.SIGTERM);
        Assert.Equal(0, (await p.WaitAsync(Wait)).ExitCode);
    }
}
