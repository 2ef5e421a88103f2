using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using MetaGpu.Proto.DevicePlugin.V1Beta1;
using MetaGpu.Tests.Cli;
using MetaGpu.Tests.DevicePlugin;
using MetaGpu.Tests.Nvml;
using MetaGpu.Tests.Support;
using MetaGpu.Tests.Usage.Containers;
using MetaGpu.Tests.Usage.PodResources;
using Xunit.Abstractions;

namespace MetaGpu.Tests.Control.EndToEnd;

/// <summary>
/// Step 7 end to end, with real parts: the published binary on the fake libnvidia-ml, the stand-in kubelet admitting
/// pods A and B onto GPU 0, each a real runc container built from Allocate's answer (so mgctl and /run/metagpu are
/// the mounts Allocate gave, and the container has its own pid and mount namespaces), plus the node's glibc as an
/// image would have it. mgctl runs inside them with <c>runc exec</c>, as <c>kubectl exec</c> would run it.
/// </summary>
[Collection(FakeNvmlCollection.Name)]
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class ControlEndToEndTests(FakeNvml fake, ITestOutputHelper output) : IAsyncLifetime
{
    private const string Resource = "cnvrg.io/metagpu";
    private const string Mgctl = "/usr/local/bin/mgctl";
    private const ulong GiB = 1UL << 30;
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);
    private static readonly string[] Uuids = ["GPU-00000000-aaaa-bbbb-cccc-000000000000", "GPU-00000001-aaaa-bbbb-cccc-000000000001"];
    private readonly TempDir _tmp = new();
    private string _binary = "";

    private string Dir => _tmp.Path;
    private string World => Path.Combine(Dir, "nvml-world.txt");
    private string StateDir => Path.Combine(Dir, "state");
    private string PodResources => Path.Combine(Dir, "pod-resources", "kubelet.sock");

    public async Task InitializeAsync() => _binary = await PublishedBinary.PathAsync();

    public Task DisposeAsync()
    {
        _tmp.Dispose();
        return Task.CompletedTask;
    }

    private void WriteWorld(params (int Pid, int Gpu, ulong Memory)[] processes) => FakeNvmlWorld.Write(World, Uuids, processes);

    private PluginProcess StartDaemon() => PluginProcess.Start(_binary,
        ["--kubelet-dir", Dir, "--state-dir", StateDir, "--pod-resources-socket", PodResources, "--usage-interval", "250ms", "--metrics-address", "127.0.0.1:0"],
        new Dictionary<string, string?> { ["METAGPU_NVML_LIBRARY"] = fake.LibraryPath, ["FAKE_NVML_CONFIG"] = World });

    /// <summary>The pod's processes as mgctl in it lists them (-o json), once it lists <paramref name="count"/>.</summary>
    private static async Task<JsonElement> ProcessesAsync(RuncContainer pod, int count)
    {
        var until = DateTime.UtcNow + Wait;
        string last = "";
        while (DateTime.UtcNow < until)
        {
            var (code, stdout, stderr) = pod.Exec(Mgctl, "get", "processes", "-o", "json");
            last = $"exit {code}: {stdout} {stderr}";
            if (code == 0)
            {
                var doc = JsonDocument.Parse(stdout).RootElement;
                if (doc.GetProperty("containers").EnumerateArray().Sum(c => c.GetProperty("processes").GetArrayLength()) == count)
                    return doc;
            }
            await Task.Delay(200);
        }
        throw new Xunit.Sdk.XunitException($"mgctl never listed {count} processes; last: {last}");
    }

    private static int[] Pids(JsonElement processes) =>
        [.. processes.GetProperty("containers").EnumerateArray().SelectMany(c => c.GetProperty("processes").EnumerateArray()).Select(p => p.GetProperty("pid").GetInt32()).Order()];

    /// <summary>A process's pid in its own (innermost) pid namespace, from the node's /proc.</summary>
    private static int OwnPid(int hostPid) =>
        int.Parse(File.ReadAllLines($"/proc/{hostPid}/status").Single(l => l.StartsWith("NSpid:", StringComparison.Ordinal)).Split('\t', StringSplitOptions.RemoveEmptyEntries)[^1],
            CultureInfo.InvariantCulture);

    private async Task<(TestKubelet Kubelet, StandInPodResources Pods, PluginProcess Daemon, ContainerAllocateResponse A, ContainerAllocateResponse B)> StartNodeAsync()
    {
        WriteWorld();
        Directory.CreateDirectory(Path.GetDirectoryName(PodResources)!);
        var pods = await StandInPodResources.StartAsync(PodResources);
        var kubelet = await TestKubelet.StartAsync(Dir);
        var daemon = StartDaemon();
        await kubelet.WaitForDevicesAsync(Resource, d => d.Count == 200, Wait);
        await daemon.WaitForLogAsync("mgctl installed as ", Wait);
        var view = kubelet.Plugin(Resource)!;
        var (idsA, a) = await view.AdmitAsync(30);
        var (idsB, b) = await view.AdmitAsync(40);
        pods.SetPods(
            new PodEntry("team-a", "notebook-a", new ContainerEntry("main", new DeviceEntry(Resource, [.. idsA]))),
            new PodEntry("team-b", "train-b", new ContainerEntry("worker", new DeviceEntry(Resource, [.. idsB]))));
        Assert.Equal(Mgctl, a.Mounts.Single(m => m.HostPath.EndsWith("/bin/mgctl", StringComparison.Ordinal)).ContainerPath);
        Assert.Equal("/run/metagpu/control.sock", a.Envs["METAGPU_CTL_SOCKET"]);
        return (kubelet, pods, daemon, a, b);
    }

    /// <summary>
    /// Each pod sees its own container and processes, with its own pids, and nothing of the other's; kill of the
    /// other pod's process is denied and it lives; kill of its own works; the node's root sees both, with host pids.
    /// </summary>
    [Fact]
    public async Task EachPodSeesAndKillsOnlyItsOwnAndTheNodeSeesAll()
    {
        var (kubelet, pods, daemon, a, b) = await StartNodeAsync();
        await using var _k = kubelet;
        await using var _p = pods;
        await using var _d = daemon;
        using var runc = new RuncHost();
        using var podA = runc.Start(GlibcImage.With(a), WorkloadProgram.Fork(1), KubeletCgroup.New());
        using var podB = runc.Start(GlibcImage.With(b), WorkloadProgram.Sleep(), KubeletCgroup.New());
        podA.WaitForOutput("ready", Wait);
        podB.WaitForOutput("ready", Wait);
        var aParent = podA.HostPid;
        var aChild = Assert.Single(podA.HostPids(), p => p != aParent);
        var bPid = podB.HostPid;
        WriteWorld((aParent, 0, 1 * GiB), (aChild, 0, 2 * GiB), (bPid, 0, 3 * GiB));

        var seenByA = await ProcessesAsync(podA, 2);
        var seenByB = await ProcessesAsync(podB, 1);

        Assert.Equal("allocation", seenByA.GetProperty("scope").GetProperty("kind").GetString());
        var containerA = Assert.Single(seenByA.GetProperty("containers").EnumerateArray());
        Assert.Equal(("team-a", "notebook-a", "main"), (containerA.GetProperty("allocation").GetProperty("namespace").GetString(),
            containerA.GetProperty("allocation").GetProperty("pod").GetString(), containerA.GetProperty("allocation").GetProperty("container").GetString()));
        Assert.Equal(new[] { OwnPid(aParent), OwnPid(aChild) }.Order(), Pids(seenByA));
        Assert.Equal([OwnPid(bPid)], Pids(seenByB));
        Assert.Equal(1, OwnPid(aParent)); // the container's init, as ps in it shows
        var textA = seenByA.GetRawText();
        foreach (var foreign in new[] { "train-b", "team-b", "worker", bPid.ToString(CultureInfo.InvariantCulture), aParent.ToString(CultureInfo.InvariantCulture) })
            Assert.DoesNotContain($"\"{foreign}\"", textA.Replace(" ", ""), StringComparison.Ordinal);
        Assert.DoesNotContain("notebook-a", seenByB.GetRawText(), StringComparison.Ordinal);
        // B's use of GPU 0 shows in A's view only as a total.
        var gpu0 = seenByA.GetProperty("devices").EnumerateArray().Single(d => d.GetProperty("uuid").GetString() == Uuids[0]);
        Assert.Equal(1, gpu0.GetProperty("others_processes").GetInt32());
        Assert.Equal(3 * GiB, gpu0.GetProperty("others_memory_used_bytes").GetUInt64());

        // A notebook's user is rarely root: the socket is 0666 and the scope comes from the mounts, not the uid.
        var (asUser, userJson, userErr) = podA.ExecAs(1000, 1000, Mgctl, "get", "processes", "-o", "json");
        Assert.True(asUser == 0, userErr);
        Assert.Equal(Pids(seenByA), Pids(JsonDocument.Parse(userJson).RootElement));

        // The table a person reads, from inside A.
        var (tableCode, table, _) = podA.Exec(Mgctl, "get", "processes");
        Assert.Equal(0, tableCode);
        output.WriteLine(table);
        Assert.Contains("team-a/notebook-a/main", table, StringComparison.Ordinal);
        Assert.DoesNotContain("train-b", table, StringComparison.Ordinal);

        // A cannot kill B's process, by B's host pid or any other; B's process lives.
        var (denied, _, deniedText) = podA.Exec(Mgctl, "kill", bPid.ToString(CultureInfo.InvariantCulture));
        Assert.Equal(4, denied);
        Assert.Contains("not a GPU process of this container", deniedText, StringComparison.Ordinal);
        Assert.True(RuncContainer.IsAlive(bPid));

        // A kills its own child by the pid it sees.
        var childPid = OwnPid(aChild);
        var (killed, killText, killErr) = podA.Exec(Mgctl, "kill", childPid.ToString(CultureInfo.InvariantCulture));
        Assert.True(killed == 0, $"mgctl kill: {killText} {killErr}");
        podA.WaitForOutput($"exited: {childPid} code 143", Wait); // SIGTERM, which the workload turns into 128 + 15
        Assert.True(RuncContainer.IsAlive(aParent));
        Assert.True(RuncContainer.IsAlive(bPid));

        // Root on the node sees both pods, with host pids.
        var socket = Path.Combine(StateDir, "run", "control.sock");
        var (nodeCode, nodeJson, nodeErr) = RuncHost.Invoke(_binary, ["ctl", "get", "processes", "-o", "json", "--socket", socket]);
        Assert.True(nodeCode == 0, nodeErr);
        var node = JsonDocument.Parse(nodeJson).RootElement;
        Assert.Equal("node", node.GetProperty("scope").GetProperty("kind").GetString());
        Assert.Equal(["notebook-a", "train-b"], node.GetProperty("containers").EnumerateArray().Select(c => c.GetProperty("allocation").GetProperty("pod").GetString()).Order());
        Assert.Contains(bPid, Pids(node));
    }

    /// <summary>
    /// A container without an allocation but with the socket mounted, and a process that forged a look-alike of A's
    /// allocation file in its own user and mount namespaces, are both denied; a watch in A sees a new process appear;
    /// after the daemon restarts, mgctl in the running container works again without restarting it.
    /// </summary>
    [Fact]
    public async Task StrangersAreDeniedAWatchSeesNewProcessesAndARestartedDaemonIsFoundAgain()
    {
        var (kubelet, pods, daemon, a, _) = await StartNodeAsync();
        await using var _k = kubelet;
        await using var _p = pods;
        await using var _d = daemon; // stopped below; the using is for a failure before
        using var runc = new RuncHost();
        using var podA = runc.Start(GlibcImage.With(a), WorkloadProgram.Sleep(), KubeletCgroup.New());
        podA.WaitForOutput("ready", Wait);
        WriteWorld((podA.HostPid, 0, 1 * GiB));
        await ProcessesAsync(podA, 1);

        // A stranger: no allocation, but mgctl and the socket's directory mounted (e.g. a hostPath it was given).
        var stranger = new ContainerAllocateResponse();
        stranger.Mounts.Add(a.Mounts.Where(m => m.ContainerPath is Mgctl or "/run/metagpu"));
        stranger.Envs.Add("METAGPU_CTL_SOCKET", "/run/metagpu/control.sock");
        using var plain = runc.Start(GlibcImage.With(stranger), WorkloadProgram.Sleep(), KubeletCgroup.New());
        plain.WaitForOutput("ready", Wait);
        var (code, _, why) = plain.Exec(Mgctl, "get", "processes");
        Assert.Equal(4, code);
        Assert.Contains("holds no MetaGPU allocation", why, StringComparison.Ordinal);

        var aFile = a.Mounts.First(m => m.ContainerPath == "/etc/metagpu/allocation.json").HostPath;
        using var forger = runc.Start(GlibcImage.With(stranger),
            WorkloadProgram.ForgeThen(HostView.RootOf(aFile), File.ReadAllText(aFile), WorkloadProgram.ContainerPath, Mgctl, "get", "processes", "-o", "json"),
            KubeletCgroup.New());
        forger.WaitForOutput("ready", Wait);
        Assert.Contains("forged: ", forger.Output);
        Assert.Contains("exec-exit: 4", forger.Output);
        Assert.DoesNotContain("notebook-a", forger.Output, StringComparison.Ordinal);

        // A watch (not a terminal: one JSON document per line) sees a second process of A appear.
        using var watch = podA.StartExec(Mgctl, "get", "processes", "-w");
        var first = await watch.StandardOutput.ReadLineAsync().WaitAsync(Wait);
        Assert.Single(Pids(JsonDocument.Parse(first!).RootElement));
        using var extra = podA.StartExec(WorkloadProgram.ContainerPath, "sleep");
        // Its first line is its pid in the container; the watch's own mgctl is in the container too, so go by that.
        var pidLine = await extra.StandardOutput.ReadLineAsync().WaitAsync(Wait);
        var extraPid = int.Parse(pidLine!["pid: ".Length..], CultureInfo.InvariantCulture);
        var second = podA.HostPids().Single(p => File.Exists($"/proc/{p}/status") && OwnPid(p) == extraPid);
        WriteWorld((podA.HostPid, 0, 1 * GiB), (second, 0, 2 * GiB));
        string? line;
        do
            line = await watch.StandardOutput.ReadLineAsync().WaitAsync(Wait);
        while (line is not null && Pids(JsonDocument.Parse(line).RootElement).Length != 2);
        Assert.NotNull(line);
        Assert.Contains(extraPid, Pids(JsonDocument.Parse(line).RootElement));
        watch.Kill();

        // The daemon restarts; the running container's mgctl finds the new socket in the same mounted directory.
        Assert.Equal(0, await daemon.TerminateAsync(Wait));
        await daemon.DisposeAsync();
        await using var restarted = StartDaemon();
        await restarted.WaitForLogAsync("mgctl installed as ", Wait);
        var again = await ProcessesAsync(podA, 2);
        Assert.Equal("notebook-a", again.GetProperty("containers")[0].GetProperty("allocation").GetProperty("pod").GetString());
        extra.Kill();
    }

    /// <summary>
    /// The benchmark figure of issue 10: <c>mgctl get processes</c>'s wall time inside a container, from its fork to
    /// its exit (timed by the workload program in the container, so runc's own start-up is not counted). Prints the
    /// figures: <c>dotnet test tests --filter FullyQualifiedName~MgctlInsideAContainer --logger "console;verbosity=detailed"</c>.
    /// </summary>
    [Fact]
    public async Task MgctlInsideAContainerIsTimed()
    {
        var (kubelet, pods, daemon, a, _) = await StartNodeAsync();
        await using var _k = kubelet;
        await using var _p = pods;
        await using var _d = daemon;
        using var runc = new RuncHost();
        using var podA = runc.Start(GlibcImage.With(a), WorkloadProgram.Fork(7), KubeletCgroup.New());
        podA.WaitForOutput("ready", Wait);
        WriteWorld([.. podA.HostPids().Select(p => (p, 0, 512UL << 20))]);
        await ProcessesAsync(podA, 8);

        var times = new List<double>();
        for (var i = 0; i < 25; i++)
        {
            var (code, stdout, stderr) = podA.Exec([.. WorkloadProgram.Run(Mgctl, "get", "processes")]);
            Assert.True(code == 0 && stdout.Contains("run-exit: 0", StringComparison.Ordinal), $"{stdout} {stderr}");
            var us = stdout.Split('\n').Single(l => l.StartsWith("run-us: ", StringComparison.Ordinal))["run-us: ".Length..];
            times.Add(double.Parse(us, CultureInfo.InvariantCulture) / 1000);
        }
        times.Sort();
        output.WriteLine($"mgctl get processes inside a runc container, 8 processes listed, 25 runs: " +
            $"median {times[times.Count / 2]:0.0} ms, min {times[0]:0.0} ms, max {times[^1]:0.0} ms");
    }
}
