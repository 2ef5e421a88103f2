using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using MetaGpu.Proto.DevicePlugin.V1Beta1;
using MetaGpu.Tests.Cli;
using MetaGpu.Tests.DevicePlugin;
using MetaGpu.Tests.Nvml;
using MetaGpu.Tests.Support;
using MetaGpu.Tests.Usage.Containers;
using MetaGpu.Tests.Usage.PodResources;
using Xunit.Abstractions;

namespace MetaGpu.Tests.Usage;

/// <summary>
/// Step 6 end to end, all with real parts: the published binary on the fake libnvidia-ml (through the real bindings),
/// the stand-in kubelet admitting pods A and B onto GPU 0 and C onto GPU 1, each a real runc container built from
/// Allocate's answer (its own pid and mount namespaces, the kubelet's cgroup layout), the stand-in pod-resources
/// service naming them, and the fake NVML listing their host pids. Then: who uses what, in /metrics (checked by
/// promtool); a look-alike of B's allocation file mounted by another container counts for nobody; B over its
/// memory limit is reported and, in kill mode, loses its largest process while A's, C's and the forger's live.
/// </summary>
[Collection(FakeNvmlCollection.Name)]
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed partial class UsageEndToEndTests(FakeNvml fake, ITestOutputHelper output) : IAsyncLifetime
{
    private const string Resource = "cnvrg.io/metagpu";
    private const ulong GiB = 1UL << 30;
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);
    private static readonly string[] Uuids = ["GPU-00000000-aaaa-bbbb-cccc-000000000000", "GPU-00000001-aaaa-bbbb-cccc-000000000001"];
    private readonly TempDir _tmp = new();
    private string _binary = "";

    private string Dir => _tmp.Path;

    public async Task InitializeAsync() => _binary = await PublishedBinary.PathAsync();

    public Task DisposeAsync()
    {
        _tmp.Dispose();
        return Task.CompletedTask;
    }

    private string World => Path.Combine(Dir, "nvml-world.txt");

    private void WriteWorld(params (int Pid, int Gpu, ulong Memory)[] processes) => FakeNvmlWorld.Write(World, Uuids, processes);

    [Fact]
    public async Task PodsAreAttributedALookAlikeIsNotAndAnAllocationOverItsLimitLosesItsLargestProcessAlone()
    {
        WriteWorld();
        var podResources = Path.Combine(Dir, "pod-resources", "kubelet.sock");
        Directory.CreateDirectory(Path.GetDirectoryName(podResources)!);
        await using var pods = await StandInPodResources.StartAsync(podResources);
        await using var kubelet = await TestKubelet.StartAsync(Dir);
        var stateDir = Path.Combine(Dir, "state");
        await using var plugin = PluginProcess.Start(_binary,
            ["--kubelet-dir", Dir, "--state-dir", stateDir, "--pod-resources-socket", podResources, "--usage-interval", "250ms",
             "--enforcement", "kill", "--metrics-address", "127.0.0.1:0"],
            new Dictionary<string, string?> { ["METAGPU_NVML_LIBRARY"] = fake.LibraryPath, ["FAKE_NVML_CONFIG"] = World });
        await kubelet.WaitForDevicesAsync(Resource, d => d.Count == 200, Wait);
        await plugin.WaitForLogAsync("metrics on 127.0.0.1:0 (port ", Wait);
        var port = int.Parse(PortInLog().Match(plugin.LogText).Groups[1].Value, CultureInfo.InvariantCulture);

        // The kubelet admits A (0.3) and B (0.4), packed onto GPU 0, and C (0.5), which no longer fits there.
        var view = kubelet.Plugin(Resource)!;
        var (idsA, a) = await view.AdmitAsync(30);
        var (idsB, b) = await view.AdmitAsync(40);
        var (idsC, c) = await view.AdmitAsync(50);
        Assert.Equal([Uuids[0], Uuids[0], Uuids[1]], new[] { a, b, c }.Select(r => r.Envs["NVIDIA_VISIBLE_DEVICES"]));
        Assert.Equal(3, Directory.GetFiles(Path.Combine(stateDir, "allocations"), "*.json").Length);
        pods.SetPods(
            new PodEntry("team-a", "notebook-a", new ContainerEntry("main", new DeviceEntry(Resource, [.. idsA]))),
            new PodEntry("team-b", "train-b", new ContainerEntry("worker", new DeviceEntry(Resource, [.. idsB]))),
            new PodEntry("team-c", "serve-c", new ContainerEntry("server", new DeviceEntry(Resource, [.. idsC]))));

        using var runc = new RuncHost();
        using var podA = runc.Start(a, WorkloadProgram.Sleep(), KubeletCgroup.New());
        using var podB = runc.Start(b, WorkloadProgram.Fork(1), KubeletCgroup.New());
        using var podC = runc.Start(c, WorkloadProgram.Sleep(), KubeletCgroup.New());
        // F has no allocation; in a user namespace of its own it mounts a copy of B's file, at B's file's path, from a tmpfs.
        var bFile = b.Mounts.First(m => m.ContainerPath == "/etc/metagpu/allocation.json").HostPath;
        using var forger = runc.Start(new ContainerAllocateResponse(), WorkloadProgram.Forge(HostView.RootOf(bFile), File.ReadAllText(bFile), WorkloadProgram.ContainerPath),
            KubeletCgroup.New());
        foreach (var container in new[] { podA, podB, podC, forger })
            container.WaitForOutput("ready", Wait);
        Assert.Contains("forged: ", forger.Output);
        Assert.Contains(idsB.Order(StringComparer.Ordinal).First(), podB.Output); // B reads its own allocation file
        var pidA = podA.HostPid;
        var bParent = podB.HostPid;
        var bChild = Assert.Single(podB.HostPids(), p => p != bParent);
        var pidC = podC.HostPid;
        var pidF = forger.HostPid;

        // Who uses what.
        WriteWorld((pidA, 0, 1 * GiB), (bParent, 0, 2 * GiB), (bChild, 0, 1 * GiB), (pidC, 1, 3 * GiB), (pidF, 0, 1 * GiB));
        var samples = await ScrapeUntilAsync(port, s => Process(s, pidA)?["pod"] == "notebook-a" && Process(s, pidC)?["pod"] == "serve-c"
            && Process(s, bParent)?["pod"] == "train-b" && Process(s, bChild)?["pod"] == "train-b" && Process(s, pidF) is not null);
        Assert.Equal(("team-a", "main", Uuids[0], Resource), Labels(samples, pidA));
        Assert.Equal(("team-b", "worker", Uuids[0], Resource), Labels(samples, bParent));
        Assert.Equal(("team-b", "worker", Uuids[0], Resource), Labels(samples, bChild));
        Assert.Equal(("team-c", "server", Uuids[1], Resource), Labels(samples, pidC));
        Assert.Equal(("", "", Uuids[0], ""), Labels(samples, pidF)); // the look-alike counts for nobody
        var bUsed = Assert.Single(samples.Samples, x => x.Name == "metagpu_container_memory_used_bytes" && x.Labels["pod"] == "train-b");
        Assert.Equal(3.0 * GiB, bUsed.Value);
        var bAllowed = Assert.Single(samples.Samples, x => x.Name == "metagpu_container_memory_allowed_bytes" && x.Labels["pod"] == "train-b");
        Assert.Equal(16384.0 * 40 / 100 * (1 << 20) - (16384.0 * 40 % 100 / 100 * (1 << 20)), bAllowed.Value);
        var (exit, promtool) = Promtool.CheckMetrics(samples.Raw);
        Assert.True(exit == 0, $"promtool check metrics: {promtool}");

        // B goes over its 6553 MiB on GPU 0: its child takes 5 GiB, its first process 3 GiB. A stays at 4 of its 4915 MiB.
        var excess = Stopwatch.StartNew();
        WriteWorld((pidA, 0, 4 * GiB), (bParent, 0, 3 * GiB), (bChild, 0, 5 * GiB), (pidC, 1, 3 * GiB), (pidF, 0, 6 * GiB));
        await plugin.WaitForLogAsync($"killed pid {bChild} ", Wait);
        var reaction = excess.Elapsed;
        output.WriteLine($"enforcement reaction (NVML shows the excess -> the kill's log line), 250 ms interval: {reaction.TotalMilliseconds:0} ms");
        Assert.Contains("GPU memory over the limit: team-b/train-b container worker", plugin.LogText);
        Assert.True(await UntilAsync(() => !RuncContainer.IsAlive(bChild)), "B's largest process still runs");
        podB.WaitForOutput($"signal 9", Wait); // reaped by B's first process, which lives on
        Assert.True(RuncContainer.IsAlive(bParent), "B's other process was killed too");
        Assert.True(RuncContainer.IsAlive(pidA), "A's process was killed");
        Assert.True(RuncContainer.IsAlive(pidC), "C's process was killed");
        Assert.True(RuncContainer.IsAlive(pidF), "a process of no allocation was killed");
        var after = await ScrapeUntilAsync(port, s => s.Samples.Any(x => x.Name == "metagpu_enforcement_actions_total" && x.Labels["action"] == "kill" && x.Value == 1));
        Assert.Equal(1, after.Samples.Single(x => x.Name == "metagpu_enforcement_actions_total" && x.Labels["action"] == "report").Value);
        Assert.DoesNotContain(" cannot kill ", plugin.LogText);
    }

    private static Dictionary<string, string>? Process(Scrape s, int pid) =>
        s.Samples.FirstOrDefault(x => x.Name == "metagpu_process_memory_usage" && x.Labels["pid"] == pid.ToString(CultureInfo.InvariantCulture)).Labels;

    private static (string Namespace, string Container, string Uuid, string Resource) Labels(Scrape s, int pid)
    {
        var l = Process(s, pid) ?? throw new Xunit.Sdk.XunitException($"no metagpu_process_memory_usage for pid {pid}");
        return (l["namespace"], l["container"], l["uuid"], l["resource"]);
    }

    private async Task<Scrape> ScrapeUntilAsync(int port, Func<Scrape, bool> done)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        var until = DateTime.UtcNow + Wait;
        Scrape? last = null;
        while (DateTime.UtcNow < until)
        {
            var raw = await http.GetByteArrayAsync($"http://127.0.0.1:{port}/metrics");
            last = Scrape.Parse(raw);
            if (done(last))
                return last;
            await Task.Delay(100);
        }
        output.WriteLine(last is null ? "no scrape" : System.Text.Encoding.UTF8.GetString(last.Raw));
        throw new Xunit.Sdk.XunitException("the metrics never showed what was expected (the last scrape is in the test output)");
    }

    private static async Task<bool> UntilAsync(Func<bool> condition)
    {
        var until = DateTime.UtcNow + Wait;
        while (!condition())
        {
            if (DateTime.UtcNow > until)
                return false;
            await Task.Delay(50);
        }
        return true;
    }

    [GeneratedRegex(@"metrics on 127\.0\.0\.1:0 \(port (\d+)\)")]
    private static partial Regex PortInLog();

    /// <summary>A scrape's samples, read with a deliberately simple parser (promtool checks the format itself).</summary>
    private sealed partial record Scrape(byte[] Raw, IReadOnlyList<(string Name, Dictionary<string, string> Labels, double Value)> Samples)
    {
        public static Scrape Parse(byte[] raw)
        {
            var samples = new List<(string, Dictionary<string, string>, double)>();
            foreach (var line in System.Text.Encoding.UTF8.GetString(raw).Split('\n'))
            {
                var m = SampleLine().Match(line);
                if (!m.Success)
                    continue;
                var labels = LabelPair().Matches(m.Groups[2].Value).ToDictionary(p => p.Groups[1].Value, p => p.Groups[2].Value);
                samples.Add((m.Groups[1].Value, labels, double.Parse(m.Groups[3].Value, CultureInfo.InvariantCulture)));
            }
            return new Scrape(raw, samples);
        }

        [GeneratedRegex(@"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$")]
        private static partial Regex SampleLine();

        [GeneratedRegex(@"([a-zA-Z_][a-zA-Z0-9_]*)=""((?:[^""\\]|\\.)*)""")]
        private static partial Regex LabelPair();
    }
}
