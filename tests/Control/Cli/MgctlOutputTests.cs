using System.Text.Json;

namespace MetaGpu.Tests.Control.Cli;

/// <summary>
/// What mgctl prints for the daemon's answers, in both scopes and every format, against golden files (docs/mgctl.md
/// shows the same samples). The stand-in daemon answers as the real one would for that caller.
/// </summary>
public sealed class MgctlOutputTests
{
    public static TheoryData<string, string, string> Views => new()
    {
        { "allocation", "devices", "table" }, { "allocation", "devices", "wide" }, { "allocation", "devices", "json" },
        { "allocation", "processes", "table" }, { "allocation", "processes", "wide" }, { "allocation", "processes", "json" },
        { "node", "devices", "table" }, { "node", "devices", "wide" }, { "node", "devices", "json" },
        { "node", "processes", "table" }, { "node", "processes", "wide" }, { "node", "processes", "json" },
        { "allocation", "info", "table" }, { "node", "info", "table" }, { "allocation", "info", "json" },
    };

    private static StandInDaemon DaemonAs(string scope)
    {
        var daemon = new StandInDaemon();
        if (scope == "node")
            Scenarios.AsNode(daemon.Control);
        else
            Scenarios.AsAllocation(daemon.Control);
        return daemon;
    }

    [Theory]
    [MemberData(nameof(Views))]
    public async Task OutputMatchesItsGoldenFile(string scope, string what, string format)
    {
        await using var daemon = DaemonAs(scope);
        string[] args = what == "info" ? ["info", "-o", format] : ["get", what, "-o", format];
        var r = await MgctlRun.RunAsync(daemon, args);
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal("", r.Stderr);
        Golden.AssertMatches($"{what}-{scope}-{format}", r.Stdout);
    }

    [Fact]
    public async Task TableRowsLineUpInOneWidth()
    {
        await using var daemon = DaemonAs("node");
        var r = await MgctlRun.RunAsync(daemon, "get", "processes", "-o", "wide");
        var lines = r.Stdout.TrimEnd('\n').Split('\n').Where(l => l.Length > 0).ToList();
        Assert.Single(lines.Select(l => l.Length).Distinct());
        Assert.All(lines, l => Assert.True(l[0] is '+' or '|' && l[^1] is '+' or '|', l));
    }

    [Fact]
    public async Task AllocationScopeShowsOthersAsTotalsAndOwnMemoryAgainstItsLimit()
    {
        await using var daemon = DaemonAs("allocation");
        var r = await MgctlRun.RunAsync(daemon, "get", "processes");
        Assert.Contains("5120MiB / 12288MiB", r.Stdout, StringComparison.Ordinal);         // GPU 0: used of allowed
        Assert.Contains("30%", r.Stdout, StringComparison.Ordinal);                        // and the share
        Assert.Contains("other containers: 2 processes", r.Stdout, StringComparison.Ordinal);
        Assert.Contains("4608MiB", r.Stdout, StringComparison.Ordinal);                    // their memory, as one total
        Assert.DoesNotContain("(no allocation)", r.Stdout, StringComparison.Ordinal);      // no node-scope column
        // The process outside the caller's pid namespace: '-' in tables, null in JSON (never 0: kill 0 is the group).
        Assert.Matches(@"\|\s+0\s+-\s+512MiB", r.Stdout);
        var json = await MgctlRun.RunAsync(daemon, "get", "processes", "-o", "json");
        using var doc = JsonDocument.Parse(json.Stdout);
        var processes = doc.RootElement.GetProperty("containers")[0].GetProperty("processes");
        Assert.Equal(JsonValueKind.Null, processes[1].GetProperty("pid").ValueKind);
        Assert.Equal(118, processes[0].GetProperty("pid").GetInt32());
    }

    [Fact]
    public async Task NodeScopeShowsEveryContainerAndTheUnallocated()
    {
        await using var daemon = DaemonAs("node");
        var r = await MgctlRun.RunAsync(daemon, "get", "processes");
        Assert.Contains("team-b/trainer-7d9f/train", r.Stdout, StringComparison.Ordinal);
        Assert.Contains("unnamed, allocation 0a1b2c3d4e5f", r.Stdout, StringComparison.Ordinal);
        Assert.Contains("(no allocation)", r.Stdout, StringComparison.Ordinal);
        Assert.Contains("/opt/tools/gpu-burn 60", r.Stdout, StringComparison.Ordinal);
        Assert.Contains("33.3%", r.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("other containers", r.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task JsonDocumentsCarryEveryDocumentedKey()
    {
        await using var daemon = DaemonAs("allocation");
        var r = await MgctlRun.RunAsync(daemon, "get", "processes", "-o", "json");
        using var doc = JsonDocument.Parse(r.Stdout);
        var root = doc.RootElement;
        Assert.Equal(["kind", "node", "daemon_version", "scope", "refreshed_unix_ms", "pod_resources_available", "devices", "containers", "unallocated"],
            root.EnumerateObject().Select(p => p.Name));
        Assert.Equal("processes", root.GetProperty("kind").GetString());
        Assert.Equal(["kind", "reason", "caller_pid", "allocations"], root.GetProperty("scope").EnumerateObject().Select(p => p.Name));
        Assert.Equal(["index", "uuid", "name", "memory_total_bytes", "memory_used_bytes", "utilization_percent", "splits", "grants", "others_memory_used_bytes", "others_processes"],
            root.GetProperty("devices")[0].EnumerateObject().Select(p => p.Name));
        Assert.Equal(["allocation", "request", "gpus", "processes"], root.GetProperty("containers")[0].EnumerateObject().Select(p => p.Name));
        Assert.Equal(["key", "resource", "namespace", "pod", "container"], root.GetProperty("containers")[0].GetProperty("allocation").EnumerateObject().Select(p => p.Name));
        Assert.Equal(["index", "uuid", "meta_devices", "share_percent", "memory_allowed_bytes", "memory_used_bytes", "sm_percent"],
            root.GetProperty("containers")[0].GetProperty("gpus")[0].EnumerateObject().Select(p => p.Name));
        Assert.Equal(["pid", "gpu_uuid", "gpu_index", "command", "memory_used_bytes", "sm_percent"],
            root.GetProperty("containers")[0].GetProperty("processes")[0].EnumerateObject().Select(p => p.Name));
        Assert.Equal(4608UL * 1024 * 1024, root.GetProperty("devices")[0].GetProperty("others_memory_used_bytes").GetUInt64());
        Assert.Equal(2, root.GetProperty("devices")[0].GetProperty("others_processes").GetInt32());
        // A value the daemon does not have is null, the key still there.
        Assert.Equal(JsonValueKind.Null, root.GetProperty("containers")[0].GetProperty("processes")[1].GetProperty("sm_percent").ValueKind);
    }

    [Fact]
    public async Task UnnamedContainersAreNullInJson()
    {
        await using var daemon = DaemonAs("node");
        var r = await MgctlRun.RunAsync(daemon, "get", "processes", "-o", "json");
        using var doc = JsonDocument.Parse(r.Stdout);
        var unnamed = doc.RootElement.GetProperty("containers")[2].GetProperty("allocation");
        Assert.Equal(Scenarios.KeyC, unnamed.GetProperty("key").GetString());
        Assert.Equal(JsonValueKind.Null, unnamed.GetProperty("pod").ValueKind);
        Assert.Equal(9001, doc.RootElement.GetProperty("unallocated")[0].GetProperty("pid").GetInt32());
    }

    [Fact]
    public async Task PodNamesUnknownIsSaidInTheHeader()
    {
        await using var daemon = DaemonAs("node");
        var c = Scenarios.NodeContainers();
        c.PodResourcesAvailable = false;
        daemon.Control.Containers = c;
        var r = await MgctlRun.RunAsync(daemon, "get", "processes");
        Assert.Contains("Pod names unknown", r.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task EmptyAnswersSaySo()
    {
        await using var daemon = new StandInDaemon();
        daemon.Control.InfoReply = Scenarios.Info(Scenarios.NodeScope);
        daemon.Control.Devices = new() { Scope = Scenarios.NodeScope };
        daemon.Control.Containers = new() { Scope = Scenarios.NodeScope, PodResourcesAvailable = true };
        var r = await MgctlRun.RunAsync(daemon, "get", "processes");
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("No running processes found", r.Stdout, StringComparison.Ordinal);
        Assert.Contains("No containers with MetaGPU allocations", r.Stdout, StringComparison.Ordinal);
        Assert.Contains("Refreshed: never", r.Stdout, StringComparison.Ordinal);
        var d = await MgctlRun.RunAsync(daemon, "get", "devices");
        Assert.Contains("No GPUs", d.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task PingAndVersionAnswer()
    {
        await using var daemon = DaemonAs("allocation");
        var ping = await MgctlRun.RunAsync(daemon, "ping");
        Assert.True(ping.ExitCode == 0, ping.ToString());
        Assert.Matches(@"^pong from metagpu 0\.1\.0 at .+ in \d+\.\d\d ms\n$", ping.Stdout);
        var version = await MgctlRun.RunAsync(daemon, "version");
        Assert.Equal("mgctl 0.1.0\ndaemon 0.1.0\n", version.Stdout);
        var json = await MgctlRun.RunAsync(daemon, "version", "-o", "json");
        using var doc = JsonDocument.Parse(json.Stdout);
        Assert.Equal("0.1.0", doc.RootElement.GetProperty("daemon_version").GetString());
        Assert.Equal(JsonValueKind.Null, doc.RootElement.GetProperty("daemon_error").ValueKind);
    }
}
