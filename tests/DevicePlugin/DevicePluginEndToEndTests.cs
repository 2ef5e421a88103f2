using System.Diagnostics;
using Grpc.Core;
using MetaGpu.DevicePlugin;
using MetaGpu.Proto.DevicePlugin.V1Beta1;
using MetaGpu.Tests.Nvml;
using Xunit.Abstractions;

namespace MetaGpu.Tests.DevicePlugin;

/// <summary>
/// The published native binary (<c>metagpu start</c>) against the stand-in kubelet, on simulated GPUs and on the
/// fake libnvidia-ml through the real bindings. These run in the fake NVML's collection (one at a time).
/// </summary>
[Collection(FakeNvmlCollection.Name)]
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class DevicePluginEndToEndTests(FakeNvml fake, ITestOutputHelper output) : IAsyncLifetime
{
    private const string Resource = "cnvrg.io/metagpu";
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(15);
    private string _dir = "";
    private string _binary = "";

    public async Task InitializeAsync()
    {
        _dir = Directory.CreateTempSubdirectory("mg-e2e-").FullName;
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

    public enum Backend { Simulated, FakeNvml }

    /// <summary>The daemon's state directory: inside the test's directory, so a restarted plugin finds the same files.</summary>
    private string StateDir => Path.Combine(_dir, "state");

    private string FakeWorld(int gpus, string extra = "")
    {
        var lines = new List<string> { "driver 550.54.15", "cuda 12040" };
        for (var i = 0; i < gpus; i++)
            lines.Add($"gpu index={i} uuid=GPU-{i:x8}-aaaa-bbbb-cccc-{i:x12} name=\"NVIDIA Fake\" mem_total={40UL << 30} mem_used=0 pci=00000000:{0x10 + i:x2}:00.0 minor={i} events=0xb");
        var path = Path.Combine(_dir, "nvml-world.txt");
        File.WriteAllText(path, string.Join('\n', lines) + "\n" + extra);
        return path;
    }

    private PluginProcess StartPlugin(Backend backend, int gpus, params string[] args)
    {
        var all = new List<string> { "--kubelet-dir", _dir, "--state-dir", StateDir };
        var env = new Dictionary<string, string?>();
        if (backend == Backend.Simulated)
        {
            all.AddRange(["--simulate", gpus.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        }
        else
        {
            env["METAGPU_NVML_LIBRARY"] = fake.LibraryPath;
            env["FAKE_NVML_CONFIG"] = File.Exists(Path.Combine(_dir, "nvml-world.txt")) ? Path.Combine(_dir, "nvml-world.txt") : FakeWorld(gpus);
        }
        all.AddRange(args);
        return PluginProcess.Start(_binary, all, env);
    }

    [Theory]
    [InlineData(Backend.Simulated)]
    [InlineData(Backend.FakeNvml)]
    public async Task RegistersAndAdvertisesEveryMetaDeviceWithItsNumaNode(Backend backend)
    {
        await using var kubelet = await TestKubelet.StartAsync(_dir);
        await using var plugin = StartPlugin(backend, 2);
        var devices = await kubelet.WaitForDevicesAsync(Resource, d => d.Count == 200, Wait);
        Assert.All(devices.Values, d => Assert.Equal("Healthy", d.Health));
        var ids = devices.Keys.Select(id => MetaDeviceId.TryParse(id, out var m) ? m!.Value : throw new Xunit.Sdk.XunitException($"bad ID {id}")).ToList();
        Assert.Equal(2, ids.Select(i => i.GpuUuid).Distinct().Count());
        Assert.All(ids.GroupBy(i => i.GpuUuid), g => Assert.Equal(Enumerable.Range(0, 100), g.Select(i => i.ShareIndex).Order()));
        Assert.All(devices.Keys, id => Assert.True(id.Length <= 63));
        Assert.True(kubelet.Plugin(Resource)!.Options!.GetPreferredAllocationAvailable);
        Assert.Empty(kubelet.Rejections);
        if (backend == Backend.Simulated)
            Assert.All(devices.Values, d => Assert.Single(d.Topology.Nodes));
    }

    [Theory]
    [InlineData(Backend.Simulated)]
    [InlineData(Backend.FakeNvml)]
    public async Task AdmitsPodsLikeTheKubeletAndKeepsFractionsOnOneGpu(Backend backend)
    {
        await using var kubelet = await TestKubelet.StartAsync(_dir);
        await using var plugin = StartPlugin(backend, 3);
        var devices = await kubelet.WaitForDevicesAsync(Resource, d => d.Count == 300, Wait);
        var uuids = devices.Keys.Select(id => (MetaDeviceId.TryParse(id, out var m) ? m!.Value : default)).OrderBy(m => m.GpuIndex).Select(m => m.GpuUuid).Distinct().ToList();
        var view = kubelet.Plugin(Resource)!;

        // 0.3, 0.5, 1.5, then two that fit only because the first ones were packed.
        var expectations = new (int Count, string[] Gpus)[]
        {
            (30, [uuids[0]]),
            (50, [uuids[0]]),
            (150, [uuids[1], uuids[2]]),
            (50, [uuids[2]]),
            (20, [uuids[0]]),
        };
        foreach (var (count, gpus) in expectations)
        {
            var (ids, response) = await view.AdmitAsync(count);
            Assert.Equal(count, ids.Count);
            Assert.Equal(string.Join(",", gpus), response.Envs["NVIDIA_VISIBLE_DEVICES"]);
            Assert.Equal(string.Join(",", gpus), response.Envs["METAGPU_DEVICE_UUIDS"]);
            Assert.Equal(count.ToString(System.Globalization.CultureInfo.InvariantCulture), response.Envs["METAGPU_REQUEST"]);
            Assert.Equal(Resource, response.Envs["METAGPU_RESOURCE"]);
            Assert.Equal(string.Join(",", ids.Order(StringComparer.Ordinal)), response.Envs["METAGPU_DEVICE_IDS"]);
            // A 40 GiB GPU in 100 shares: the limit is the requested fraction of each GPU's memory, in MiB.
            var expected = gpus.Length == 1 ? 40UL * 1024 * (ulong)count / 100 : 40UL * 1024 + 40UL * 1024 * (ulong)(count - 100) / 100;
            Assert.Equal(expected.ToString(System.Globalization.CultureInfo.InvariantCulture), response.Envs["METAGPU_MAX_MEM"]);
            output.WriteLine($"{count} -> {response.Envs["METAGPU_SHARES"]}");
        }
        // Every share handed out exactly once.
        Assert.Equal(300, devices.Count);
    }

    [Fact]
    public async Task AllocateRefusesIdsItDoesNotAdvertise()
    {
        await using var kubelet = await TestKubelet.StartAsync(_dir);
        await using var plugin = StartPlugin(Backend.Simulated, 1);
        await kubelet.WaitForDevicesAsync(Resource, d => d.Count == 100, Wait);
        var view = kubelet.Plugin(Resource)!;
        var bogus = "cnvrg-meta-0-7-GPU-00000000-0000-0000-0000-000000000000";
        var e = await Assert.ThrowsAsync<RpcException>(async () => await view.Client.AllocateAsync(new AllocateRequest
        {
            ContainerRequests = { new ContainerAllocateRequest { DevicesIds = { bogus } } },
        }));
        Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
        Assert.Contains(bogus, e.Status.Detail);
        // The plugin serves on: a normal allocation still works.
        var (_, response) = await view.AdmitAsync(10);
        Assert.False(string.IsNullOrEmpty(response.Envs["NVIDIA_VISIBLE_DEVICES"]));
    }

    [Fact]
    public async Task AnAllocateWithFiftyThousandContainersIsRefusedCheaplyWithOneLogLine()
    {
        await using var kubelet = await TestKubelet.StartAsync(_dir);
        await using var plugin = StartPlugin(Backend.Simulated, 1);
        var devices = await kubelet.WaitForDevicesAsync(Resource, d => d.Count == 100, Wait);
        var view = kubelet.Plugin(Resource)!;
        var before = plugin.Memory();
        var linesBefore = plugin.Log.Count;

        var attack = new AllocateRequest();
        var id = devices.Keys.First();
        for (var i = 0; i < 50_000; i++)
            attack.ContainerRequests.Add(new ContainerAllocateRequest { DevicesIds = { id } });
        var error = await Record.ExceptionAsync(async () => await view.Client.AllocateAsync(attack));
        await Task.Delay(500); // let the log lines of the call arrive
        var after = plugin.Memory();
        var lines = plugin.Log.Count - linesBefore;
        // The numbers first, so a run against another build (METAGPU_E2E_BINARY) shows them even when it fails.
        output.WriteLine($"RSS before {before.NowKiB / 1024.0:0.0} MiB, peak after the 50,000-container Allocate {after.PeakKiB / 1024.0:0.0} MiB (now {after.NowKiB / 1024.0:0.0} MiB); {lines} log lines");
        var e = Assert.IsType<RpcException>(error);
        Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
        Assert.Contains("50000 containers", e.Status.Detail);

        // The daemon lives and answers a normal call from the kubelet.
        var (ids, _) = await view.AdmitAsync(10);
        Assert.Equal(10, ids.Count);
        Assert.True(after.PeakKiB < 48 * 1024, $"peak RSS {after.PeakKiB} KiB");
        Assert.True(lines < 10, $"{lines} log lines:\n{string.Join('\n', plugin.Log.Skip(linesBefore).Take(20))}");
    }

    [Fact]
    public async Task AGpuWhoseUuidCannotBeReadIsNamedByItsIndex()
    {
        FakeWorld(2, "error func=nvmlDeviceGetUUID gpu=1 code=999\n");
        await using var kubelet = await TestKubelet.StartAsync(_dir);
        await using var plugin = StartPlugin(Backend.FakeNvml, 2);
        await kubelet.WaitForDevicesAsync(Resource, d => d.Count == 100, Wait);
        await plugin.WaitForLogAsync("GPU 1 (UUID unreadable) is unavailable", Wait);
        Assert.DoesNotContain("(null)", plugin.LogText);
    }

    [Fact]
    public async Task SurvivesTwentyKubeletRestartsInARow()
    {
        await using var kubelet = await TestKubelet.StartAsync(_dir);
        await using var plugin = StartPlugin(Backend.Simulated, 2);
        var before = await kubelet.WaitForDevicesAsync(Resource, d => d.Count == 200, Wait);
        var times = new List<double>();
        for (var i = 0; i < 20; i++)
        {
            var registrations = kubelet.Registrations;
            var clock = Stopwatch.StartNew();
            await kubelet.RestartAsync();
            var deadline = DateTime.UtcNow + Wait;
            while (kubelet.Registrations == registrations || kubelet.Plugin(Resource)?.Devices is null)
            {
                Assert.True(DateTime.UtcNow < deadline, $"restart {i + 1}: no re-registration within {Wait.TotalSeconds} s\n{plugin.LogText}");
                await Task.Delay(10);
            }
            times.Add(clock.Elapsed.TotalMilliseconds);
            Assert.Equal(before.Keys.Order(), kubelet.Plugin(Resource)!.Devices!.Keys.Order());
        }
        output.WriteLine($"re-registration after a kubelet restart: max {times.Max():0} ms, median {times.Order().ElementAt(times.Count / 2):0} ms");
        Assert.False(plugin.HasExited);
    }

    [Fact]
    public async Task IdleTimeoutClosesAnIdleConnectionButNeverTheKubeletsStream()
    {
        await using var kubelet = await TestKubelet.StartAsync(_dir);
        await using var plugin = StartPlugin(Backend.Simulated, 1, "--idle-timeout", "1s");
        await kubelet.WaitForDevicesAsync(Resource, d => d.Count == 100, Wait);
        var socket = Path.Combine(_dir, SocketNames.EndpointFileName(Resource, _dir));
        await using var idle = await MetaGpu.Tests.Transport.RawHttp2Client.ConnectAsync(socket);
        await idle.HandshakeAsync();
        Assert.True(await idle.WaitForCloseAsync(Wait), "an idle connection was not closed after --idle-timeout 1s");
        // The kubelet's connection carries ListAndWatch, silent all along: it stays, and nothing re-registers.
        await Task.Delay(2500);
        Assert.False(kubelet.Plugin(Resource)!.StreamEnded, plugin.LogText);
        Assert.Equal(1, kubelet.Registrations);
    }

    [Fact]
    public async Task KubeletAbsentAtStartIsWaitedForWithoutAFloodOfLogs()
    {
        await using var plugin = StartPlugin(Backend.Simulated, 1);
        await plugin.WaitForLogAsync("no kubelet at", Wait);
        await Task.Delay(2500);
        await using var kubelet = await TestKubelet.StartAsync(_dir);
        await kubelet.WaitForDevicesAsync(Resource, d => d.Count == 100, Wait);
        Assert.Single(plugin.Log, l => l.Contains("no kubelet at", StringComparison.Ordinal));
    }

    [Fact]
    public async Task SigtermClosesTheStreamRemovesTheSocketAndExitsZero()
    {
        await using var kubelet = await TestKubelet.StartAsync(_dir);
        await using var plugin = StartPlugin(Backend.Simulated, 1);
        await kubelet.WaitForDevicesAsync(Resource, d => d.Count == 100, Wait);
        var socket = Path.Combine(_dir, SocketNames.EndpointFileName(Resource, _dir));
        Assert.True(File.Exists(socket));
        Assert.Equal(0, await plugin.TerminateAsync(Wait));
        Assert.False(File.Exists(socket));
        var deadline = DateTime.UtcNow + Wait;
        while (!kubelet.Plugin(Resource)!.StreamEnded && DateTime.UtcNow < deadline)
            await Task.Delay(10);
        Assert.True(kubelet.Plugin(Resource)!.StreamEnded);
        await plugin.DisposeAsync();
    }

    [Fact]
    public async Task ARestartedPluginReadvertisesTheSameIds()
    {
        await using var kubelet = await TestKubelet.StartAsync(_dir);
        await using var first = StartPlugin(Backend.FakeNvml, 2);
        var before = (await kubelet.WaitForDevicesAsync(Resource, d => d.Count == 200, Wait)).Keys.Order().ToList();
        Assert.Equal(0, await first.TerminateAsync(Wait));
        await first.DisposeAsync();
        await using var second = StartPlugin(Backend.FakeNvml, 2);
        var after = await kubelet.WaitForDevicesAsync(Resource, d => d.Count == 200 && kubelet.Registrations >= 2, Wait);
        Assert.Equal(before, after.Keys.Order());
    }

    [Fact]
    public async Task HealthEventsReachListAndWatchAndRecoveryFollows()
    {
        var world = FakeWorld(2);
        var config = Path.Combine(_dir, "config.yaml");
        File.WriteAllText(config, "health:\n  recoveryQuietPeriod: 2s\n");
        await using var kubelet = await TestKubelet.StartAsync(_dir);
        await using var plugin = StartPlugin(Backend.FakeNvml, 2, "--config", config);
        await kubelet.WaitForDevicesAsync(Resource, d => d.Count == 200 && d.Values.All(x => x.Health == "Healthy"), Wait);
        var gpu1 = "GPU-00000001-aaaa-bbbb-cccc-000000000001";

        var clock = Stopwatch.StartNew();
        File.AppendAllText(world, "event gpu=1 type=0x8 data=48\n");
        var down = await kubelet.WaitForDevicesAsync(Resource, d => d.Values.Any(x => x.Health != "Healthy"), Wait);
        var reached = clock.Elapsed;
        output.WriteLine($"XID 48 reached ListAndWatch after {reached.TotalMilliseconds:0} ms");
        Assert.All(down.Where(kv => kv.Key.EndsWith(gpu1, StringComparison.Ordinal)), kv => Assert.Equal("Unhealthy", kv.Value.Health));
        Assert.All(down.Where(kv => !kv.Key.EndsWith(gpu1, StringComparison.Ordinal)), kv => Assert.Equal("Healthy", kv.Value.Health));
        Assert.True(reached < TimeSpan.FromSeconds(3), $"the health change took {reached.TotalMilliseconds:0} ms");

        await kubelet.WaitForDevicesAsync(Resource, d => d.Values.All(x => x.Health == "Healthy"), Wait);
        output.WriteLine($"recovered {clock.Elapsed.TotalMilliseconds:0} ms after the event (quiet period 2 s)");
        await plugin.WaitForLogAsync("healthy again", Wait);
    }

    [Fact]
    public async Task AGpuWhoseEventRegistrationFailedComesBackAndAGpuLostWithoutEventGoes()
    {
        var world = FakeWorld(2, "error func=nvmlDeviceRegisterEvents gpu=1 code=999\n");
        var config = Path.Combine(_dir, "config.yaml");
        File.WriteAllText(config, "health:\n  recoveryQuietPeriod: 2s\n");
        await using var kubelet = await TestKubelet.StartAsync(_dir);
        await using var plugin = StartPlugin(Backend.FakeNvml, 2, "--config", config);
        var gpu0 = "GPU-00000000-aaaa-bbbb-cccc-000000000000";
        var gpu1 = "GPU-00000001-aaaa-bbbb-cccc-000000000001";
        bool On(string id, string gpu) => id.EndsWith(gpu, StringComparison.Ordinal);

        // GPU 1 cannot be watched: its 100 meta-devices are unhealthy, not lost for good.
        await kubelet.WaitForDevicesAsync(Resource, d => d.Count == 200 && d.Count(x => x.Value.Health != "Healthy") == 100
            && d.Where(x => x.Value.Health != "Healthy").All(x => On(x.Key, gpu1)), Wait);
        var lines = File.ReadAllLines(world).Where(l => !l.StartsWith("error", StringComparison.Ordinal));
        var healthyWorld = string.Join('\n', lines) + "\n";
        File.WriteAllText(world + ".new", healthyWorld);
        File.Move(world + ".new", world, overwrite: true);
        var clock = Stopwatch.StartNew();
        await kubelet.WaitForDevicesAsync(Resource, d => d.Values.All(x => x.Health == "Healthy"), TimeSpan.FromSeconds(30));
        output.WriteLine($"GPU 1 healthy {clock.Elapsed.TotalMilliseconds:0} ms after its registration fault was cleared");

        // GPU 0 falls off the bus without an event: the periodic query notices.
        File.WriteAllText(world + ".new", healthyWorld + "lost gpu=0 event=0\n");
        File.Move(world + ".new", world, overwrite: true);
        clock.Restart();
        await kubelet.WaitForDevicesAsync(Resource, d => d.Where(x => On(x.Key, gpu0)).All(x => x.Value.Health == "Unhealthy")
            && d.Where(x => On(x.Key, gpu1)).All(x => x.Value.Health == "Healthy"), TimeSpan.FromSeconds(30));
        output.WriteLine($"GPU 0 unhealthy {clock.Elapsed.TotalMilliseconds:0} ms after it was lost without an event");
        await plugin.WaitForLogAsync("does not answer", Wait);
    }

    [Fact]
    public async Task AConfigChangeIsAppliedLiveAndABadOneIsRejected()
    {
        var config = Path.Combine(_dir, "config.yaml");
        File.WriteAllText(config, "resources:\n  - name: cnvrg.io/metagpu\n    metaGpus: 100\n    gpus: [\"*\"]\n");
        await using var kubelet = await TestKubelet.StartAsync(_dir);
        await using var plugin = StartPlugin(Backend.Simulated, 2, "--config", config);
        await kubelet.WaitForDevicesAsync(Resource, d => d.Count == 200, Wait);

        File.WriteAllText(config, "resources:\n  - name: cnvrg.io/metagpu\n    metaGpus: 50\n    gpus: [\"*\"]\n");
        await kubelet.WaitForDevicesAsync(Resource, d => d.Count == 100, Wait);

        File.WriteAllText(config, "resources:\n  - name: cnvrg.io/metagpu\n    metaGpus: 0\n    gpus: [\"*\"]\n");
        await plugin.WaitForLogAsync("configuration change rejected", Wait);
        Assert.Equal(100, kubelet.Plugin(Resource)!.Devices!.Count);

        // A second resource appears with its own socket and registration.
        File.WriteAllText(config, "resources:\n  - name: cnvrg.io/metagpu\n    metaGpus: 10\n    gpus: [0]\n  - name: example.com/big\n    metaGpus: 4\n    gpus: [1]\n");
        await kubelet.WaitForDevicesAsync("example.com/big", d => d.Count == 4, Wait);
        await kubelet.WaitForDevicesAsync(Resource, d => d.Count == 10, Wait);
        Assert.False(plugin.HasExited);
    }

    [Fact]
    public async Task AnInvalidConfigStopsTheStartWithTheReason()
    {
        var config = Path.Combine(_dir, "config.yaml");
        File.WriteAllText(config, "resources:\n  - name: cnvrg.io/metagpu\n    metaGpus: many\n");
        await using var plugin = StartPlugin(Backend.Simulated, 1, "--config", config);
        var deadline = DateTime.UtcNow + Wait;
        while (!plugin.HasExited && DateTime.UtcNow < deadline)
            await Task.Delay(20);
        Assert.True(plugin.HasExited);
        Assert.NotEqual(0, plugin.ExitCode);
        Assert.Contains("metaGpus", plugin.LogText);
    }

    [Fact]
    public async Task AllocateMountsTheAllocationFileItWroteAndARestartedPluginAnswersTheSame()
    {
        await using var kubelet = await TestKubelet.StartAsync(_dir);
        await using var plugin = StartPlugin(Backend.FakeNvml, 2); // stopped below; the using is for a failure before
        await kubelet.WaitForDevicesAsync(Resource, d => d.Count == 200, Wait);
        // mgctl is installed beside the registration, not before it: its mount comes once it is there.
        await plugin.WaitForLogAsync("mgctl installed as ", Wait);
        var (ids, response) = await kubelet.Plugin(Resource)!.AdmitAsync(30);

        var key = MetaGpu.DevicePlugin.Allocations.AllocationKey.For(Resource, ids);
        var hostPath = Path.Combine(StateDir, "allocations", key + ".json");
        // The allocation file twice, then mgctl (the daemon's own binary, installed in the state directory) and the
        // control socket's directory.
        Assert.Equal(
            [("/etc/metagpu/allocation.json", hostPath, true), ("/etc/metagpu/resources/cnvrg.io_metagpu.json", hostPath, true),
             ("/usr/local/bin/mgctl", Path.Combine(StateDir, "bin", "mgctl"), true), ("/run/metagpu", Path.Combine(StateDir, "run"), true)],
            response.Mounts.Select(m => (m.ContainerPath, m.HostPath, m.ReadOnly)));
        Assert.Equal("/etc/metagpu/allocation.json", response.Envs["METAGPU_ALLOCATION"]);
        Assert.Equal("/run/metagpu/control.sock", response.Envs["METAGPU_CTL_SOCKET"]);
        Assert.Equal(File.ReadAllBytes(_binary), File.ReadAllBytes(Path.Combine(StateDir, "bin", "mgctl")));

        // The documented file: 30 of GPU 0's 100 meta-devices, 30 % of its 40 GiB.
        const string uuid = "GPU-00000000-aaaa-bbbb-cccc-000000000000";
        var ids30 = string.Join(",\n", ids.Order(StringComparer.Ordinal).Select(id => $"    \"{id}\""));
        Assert.Equal($$"""
            {
              "schemaVersion": 1,
              "resource": "cnvrg.io/metagpu",
              "key": "{{key}}",
              "request": 30,
              "memoryLimitMiB": 12288,
              "gpus": [
                {
                  "uuid": "{{uuid}}",
                  "index": 0,
                  "metaDevices": 30,
                  "metaGpus": 100,
                  "share": 0.3,
                  "memoryLimitMiB": 12288
                }
              ],
              "deviceIds": [
            {{ids30}}
              ]
            }

            """, File.ReadAllText(hostPath));
        Assert.Equal("12288", response.Envs["METAGPU_MAX_MEM"]);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead, File.GetUnixFileMode(hostPath));
        var written = File.GetLastWriteTimeUtc(hostPath);

        // The kubelet asks again after a restart of the plugin (its checkpoint): the same answer, the file untouched.
        Assert.Equal(0, await plugin.TerminateAsync(Wait));
        await plugin.DisposeAsync();
        await using var restarted = StartPlugin(Backend.FakeNvml, 2);
        await kubelet.WaitForDevicesAsync(Resource, d => d.Count == 200 && kubelet.Registrations >= 2, Wait);
        var again = await kubelet.Plugin(Resource)!.Client.AllocateAsync(new AllocateRequest { ContainerRequests = { new ContainerAllocateRequest { DevicesIds = { ids } } } });
        Assert.Equal(response, again.ContainerResponses[0]);
        Assert.Equal(written, File.GetLastWriteTimeUtc(hostPath));
        await restarted.WaitForLogAsync($"allocation {key}", Wait);
    }

    [Fact]
    public async Task TheStateDirectoryComesFromTheEnvironmentWhenNoFlagNamesIt()
    {
        var fromEnvironment = Path.Combine(_dir, "from-env");
        await using var kubelet = await TestKubelet.StartAsync(_dir);
        await using var plugin = PluginProcess.Start(_binary, ["--kubelet-dir", _dir, "--simulate", "1"],
            new Dictionary<string, string?> { ["METAGPU_STATE_DIR"] = fromEnvironment });
        await kubelet.WaitForDevicesAsync(Resource, d => d.Count == 100, Wait);
        var (_, response) = await kubelet.Plugin(Resource)!.AdmitAsync(10);
        Assert.StartsWith(Path.Combine(fromEnvironment, "allocations") + "/", response.Mounts[0].HostPath);
        Assert.True(File.Exists(response.Mounts[0].HostPath));
    }

    [Fact]
    public async Task AnUnusableStateDirectoryStopsTheStartNamingThePathAndTheFix()
    {
        File.WriteAllText(StateDir, "not a directory");
        await using var plugin = StartPlugin(Backend.Simulated, 1);
        Assert.Equal(1, await plugin.WaitForExitAsync(Wait));
        Assert.Contains($"state directory {StateDir} is not usable: cannot create {StateDir}/allocations: Not a directory (ENOTDIR); " +
            "is --state-dir (METAGPU_STATE_DIR) right, and is the host's directory mounted read-write into this pod at the same path (a hostPath volume)?", plugin.LogText);
    }

    [Fact]
    public async Task ProbeChecksEveryPluginSocketForTheLivenessProbe()
    {
        await using var kubelet = await TestKubelet.StartAsync(_dir);
        await using var plugin = StartPlugin(Backend.Simulated, 1);
        await kubelet.WaitForDevicesAsync(Resource, d => d.Count == 100, Wait);
        var ok = await RunAsync("probe", "--kubelet-dir", _dir);
        Assert.True(ok.ExitCode == 0, ok.Output);
        Assert.Contains("SERVING", ok.Output);
        Assert.Equal(0, await plugin.TerminateAsync(Wait));
        await plugin.DisposeAsync();
        var gone = await RunAsync("probe", "--kubelet-dir", _dir);
        Assert.Equal(1, gone.ExitCode);
        Assert.Contains("no MetaGPU socket", gone.Output);
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
