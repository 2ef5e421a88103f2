using Grpc.Core;
using MetaGpu.DevicePlugin;
using MetaGpu.DevicePlugin.Allocations;
using MetaGpu.DevicePlugin.Config;
using MetaGpu.Logging;
using MetaGpu.Proto.DevicePlugin.V1Beta1;
using Microsoft.Extensions.Logging;

namespace MetaGpu.Tests.DevicePlugin.Allocations;

/// <summary>
/// Allocate through the plugin's socket, in process: each container's file is written before the answer, mounted
/// read-only twice, the same for the same IDs (again, or after a restart), and a failed write fails the call.
/// </summary>
public sealed class AllocateWritesAllocationFilesTests : IAsyncLifetime
{
    private const string Resource = ResourceSharing.DefaultResourceName;
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(15);
    private string _dir = "";
    private string _state = "";

    public Task InitializeAsync()
    {
        _dir = Directory.CreateTempSubdirectory("mg-allocate-").FullName;
        _state = Path.Combine(_dir, "state");
        return Task.CompletedTask;
    }

    public Task DisposeAsync()
    {
        Directory.Delete(_dir, recursive: true);
        return Task.CompletedTask;
    }

    private static AllocateRequest Request(params IEnumerable<string>[] containers)
    {
        var request = new AllocateRequest();
        foreach (var ids in containers)
            request.ContainerRequests.Add(new ContainerAllocateRequest { DevicesIds = { ids } });
        return request;
    }

    /// <summary>The first <paramref name="count"/> share IDs of GPU <paramref name="gpu"/>, in a scrambled order.</summary>
    private static List<string> Ids(IReadOnlyDictionary<string, Device> devices, string uuid, int count) =>
        devices.Keys.Where(k => k.EndsWith(uuid, StringComparison.Ordinal)).Order(StringComparer.Ordinal).Take(count).Reverse().ToList();

    [Fact]
    public async Task EachContainerGetsItsFileMountedReadOnlyAtBothPaths()
    {
        await using var kubelet = await TestKubelet.StartAsync(_dir);
        await using var plugin = new InProcessPlugin(_dir, stateDirectory: _state);
        var devices = await kubelet.WaitForDevicesAsync(Resource, d => d.Count == 200, Wait);
        var ids = Ids(devices, plugin.Uuids[1], 30);

        var response = (await kubelet.Plugin(Resource)!.Client.AllocateAsync(Request(ids))).ContainerResponses[0];

        var key = AllocationKey.For(Resource, ids);
        var hostPath = Path.Combine(_state, "allocations", key + ".json");
        Assert.Equal(
            [(AllocationContainerPaths.Documented, hostPath, true), ("/etc/metagpu/resources/cnvrg.io_metagpu.json", hostPath, true)],
            response.Mounts.Select(m => (m.ContainerPath, m.HostPath, m.ReadOnly)));
        Assert.Equal("/etc/metagpu/allocation.json", response.Envs["METAGPU_ALLOCATION"]);

        // The file says what the environment says, in the documented form.
        var record = AllocationJson.TryRead(File.ReadAllBytes(hostPath));
        Assert.NotNull(record);
        Assert.Equal((Resource, key, 30), (record.Resource, record.Key, record.Request));
        Assert.Equal(response.Envs["METAGPU_DEVICE_IDS"], string.Join(",", record.DeviceIds));
        Assert.Equal(response.Envs["METAGPU_MAX_MEM"], record.MemoryLimitMiB.ToString(System.Globalization.CultureInfo.InvariantCulture));
        var gpu = Assert.Single(record.Gpus);
        var simulated = plugin.Backend.GetInventory().Gpus[1];
        Assert.Equal((simulated.Uuid, 1, 30, 100, 0.3, (simulated.MemoryTotalBytes >> 20) * 30 / 100),
            (gpu.Uuid, gpu.Index, gpu.MetaDevices, gpu.MetaGpus, gpu.Share, gpu.MemoryLimitMiB));
        Assert.Equal(response.Envs["METAGPU_DEVICE_UUIDS"], gpu.Uuid);
    }

    /// <summary>What the control side publishes (mgctl, its socket's directory, the socket's variable) reaches every container, from the next Allocate on.</summary>
    [Fact]
    public async Task EachContainerGetsWhatTheControlSidePublished()
    {
        var additions = new ContainerAdditions();
        await using var kubelet = await TestKubelet.StartAsync(_dir);
        await using var plugin = new InProcessPlugin(_dir, stateDirectory: _state, additions: additions);
        var devices = await kubelet.WaitForDevicesAsync(Resource, d => d.Count == 200, Wait);
        var client = kubelet.Plugin(Resource)!.Client;

        var before = (await client.AllocateAsync(Request(Ids(devices, plugin.Uuids[0], 10)))).ContainerResponses[0];
        Assert.Equal(2, before.Mounts.Count);
        Assert.False(before.Envs.ContainsKey("METAGPU_CTL_SOCKET"));

        additions.Publish(new ContainerAdditions.Snapshot(
            [new ContainerMount("/usr/local/bin/mgctl", "/var/lib/metagpu/bin/mgctl"), new ContainerMount("/run/metagpu", "/var/lib/metagpu/run")],
            [new("METAGPU_CTL_SOCKET", "/run/metagpu/control.sock")]));
        var answer = await client.AllocateAsync(Request(Ids(devices, plugin.Uuids[0], 10), Ids(devices, plugin.Uuids[1], 20)));

        Assert.All(answer.ContainerResponses, r =>
        {
            Assert.Equal([("/usr/local/bin/mgctl", "/var/lib/metagpu/bin/mgctl", true), ("/run/metagpu", "/var/lib/metagpu/run", true)],
                r.Mounts.Skip(2).Select(m => (m.ContainerPath, m.HostPath, m.ReadOnly)));
            Assert.Equal("/run/metagpu/control.sock", r.Envs["METAGPU_CTL_SOCKET"]);
        });
    }

    [Fact]
    public async Task ARepeatedAllocateAndARestartedPluginGiveTheSameAnswerAndLeaveTheFile()
    {
        await using var kubelet = await TestKubelet.StartAsync(_dir);
        List<string> ids;
        AllocateResponse first;
        string path;
        (ulong, string) identity;
        await using (var plugin = new InProcessPlugin(_dir, stateDirectory: _state))
        {
            var devices = await kubelet.WaitForDevicesAsync(Resource, d => d.Count == 200, Wait);
            ids = [.. Ids(devices, plugin.Uuids[0], 100), .. Ids(devices, plugin.Uuids[1], 50)];
            var client = kubelet.Plugin(Resource)!.Client;
            first = await client.AllocateAsync(Request(ids));
            path = first.ContainerResponses[0].Mounts[0].HostPath;
            identity = FileSystemFixtures.Identity(path);
            Thread.Sleep(20);
            ids.Reverse(); // the kubelet's order does not matter
            Assert.Equal(first, await client.AllocateAsync(Request(ids)));
            Assert.Equal(identity, FileSystemFixtures.Identity(path));
        }

        await using var restarted = new InProcessPlugin(_dir, stateDirectory: _state);
        await kubelet.WaitForDevicesAsync(Resource, d => d.Count == 200 && kubelet.Registrations >= 2, Wait);
        Assert.Equal(first, await kubelet.Plugin(Resource)!.Client.AllocateAsync(Request(ids)));
        Assert.Equal(identity, FileSystemFixtures.Identity(path));
        Assert.Single(Directory.GetFiles(Path.Combine(_state, "allocations")));
    }

    [Fact]
    public async Task ContainersOfOneRequestGetFilesOfTheirOwnAndABadOneWritesNone()
    {
        await using var kubelet = await TestKubelet.StartAsync(_dir);
        await using var plugin = new InProcessPlugin(_dir, stateDirectory: _state);
        var devices = await kubelet.WaitForDevicesAsync(Resource, d => d.Count == 200, Wait);
        var client = kubelet.Plugin(Resource)!.Client;
        var a = Ids(devices, plugin.Uuids[0], 10);
        var b = Ids(devices, plugin.Uuids[1], 10);

        // The second container asks for a device nobody has: refused before any file is written.
        var e = await Assert.ThrowsAsync<RpcException>(async () => await client.AllocateAsync(Request(a, ["cnvrg-meta-0-7-GPU-nope"])));
        Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
        Assert.Empty(Directory.GetFiles(Path.Combine(_state, "allocations")));

        var response = await client.AllocateAsync(Request(a, b));
        var paths = response.ContainerResponses.Select(c => c.Mounts[0].HostPath).ToList();
        Assert.Equal([AllocationKey.For(Resource, a), AllocationKey.For(Resource, b)], paths.Select(Path.GetFileNameWithoutExtension));
        Assert.All(paths, p => Assert.True(File.Exists(p)));
    }

    [Fact]
    public async Task TwoResourcesOfOneContainerHaveDistinctMountPaths()
    {
        var config = new SharingConfig
        {
            Resources = [new ResourceSharing(Resource, 10, ["0"], 0), new ResourceSharing("example.com/gpu-small", 4, ["1"], 0)],
        };
        await using var kubelet = await TestKubelet.StartAsync(_dir);
        await using var plugin = new InProcessPlugin(_dir, config: config, stateDirectory: _state);
        await kubelet.WaitForDevicesAsync(Resource, d => d.Count == 10, Wait);
        await kubelet.WaitForDevicesAsync("example.com/gpu-small", d => d.Count == 4, Wait);
        var (_, big) = await kubelet.Plugin(Resource)!.AdmitAsync(2);
        var (_, small) = await kubelet.Plugin("example.com/gpu-small")!.AdmitAsync(1);
        Assert.Equal("/etc/metagpu/resources/cnvrg.io_metagpu.json", big.Mounts[1].ContainerPath);
        Assert.Equal("/etc/metagpu/resources/example.com_gpu-small.json", small.Mounts[1].ContainerPath);
        Assert.NotEqual(big.Mounts[1].HostPath, small.Mounts[1].HostPath);
        Assert.Equal("example.com/gpu-small", AllocationJson.TryRead(File.ReadAllBytes(small.Mounts[1].HostPath))!.Resource);
    }

    [Fact]
    public async Task AFailedWriteFailsTheAllocateNamingThePathAndTheErrnoInOneLogLine()
    {
        var log = new RecordingLog();
        await using var kubelet = await TestKubelet.StartAsync(_dir);
        await using var plugin = new InProcessPlugin(_dir, stateDirectory: _state, log: log);
        var devices = await kubelet.WaitForDevicesAsync(Resource, d => d.Count == 200, Wait);
        var client = kubelet.Plugin(Resource)!.Client;
        // Fails for root too: the directory's place is taken by a regular file.
        var allocations = Path.Combine(_state, "allocations");
        Directory.Delete(allocations);
        File.WriteAllText(allocations, "");

        var a = Ids(devices, plugin.Uuids[0], 10);
        var e = await Assert.ThrowsAsync<RpcException>(async () =>
            await client.AllocateAsync(Request(a, Ids(devices, plugin.Uuids[1], 10), Ids(devices, plugin.Uuids[1], 20)[10..])));
        var expected = $"cannot write {allocations}/{AllocationKey.For(Resource, a)}.json: Not a directory (ENOTDIR)";
        Assert.Equal((StatusCode.Internal, expected), (e.StatusCode, e.Status.Detail));
        Assert.Equal([$"Allocate {Resource} failed: {expected}"], log.At(LogLevel.Error));

        // Fixed (the directory back): the same request succeeds.
        File.Delete(allocations);
        Directory.CreateDirectory(allocations);
        Assert.Single((await client.AllocateAsync(Request(a))).ContainerResponses);
    }

    [Fact]
    public async Task AFloodOfAllocatesIsAnsweredInFullButLoggedWithinTheLineBudget()
    {
        var log = new RecordingLog();
        await using var kubelet = await TestKubelet.StartAsync(_dir);
        await using var plugin = new InProcessPlugin(_dir, stateDirectory: _state, log: log);
        var devices = await kubelet.WaitForDevicesAsync(Resource, d => d.Count == 200, Wait);
        var client = kubelet.Plugin(Resource)!.Client;
        var ids = Ids(devices, plugin.Uuids[0], 10);
        const int calls = 400;
        var started = System.Diagnostics.Stopwatch.StartNew();
        for (var i = 0; i < calls; i++)
            Assert.Single((await client.AllocateAsync(Request(ids))).ContainerResponses);
        var elapsed = started.Elapsed.TotalSeconds;

        var logged = log.At(LogLevel.Information).Count(m => m.StartsWith($"Allocate {Resource}: 10 meta-devices", StringComparison.Ordinal));
        Assert.InRange(logged, LineBudget.DefaultBurst, LineBudget.DefaultBurst + LineBudget.DefaultPerSecond * elapsed + 1);
        Assert.True(logged < calls, $"{calls} calls in {elapsed:0.00} s were all logged");

        // A logged call first says how many went unlogged since the last line: with those lines, every call is
        // accounted for once the budget has refilled and one more call is logged.
        await Task.Delay(TimeSpan.FromSeconds(2 / LineBudget.DefaultPerSecond));
        await client.AllocateAsync(Request(ids));
        var summaries = log.At(LogLevel.Information).Where(m => m.Contains("without a log line", StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(summaries);
        var unlogged = 0;
        foreach (var summary in summaries)
        {
            var count = int.Parse(summary.Split(' ')[2], System.Globalization.CultureInfo.InvariantCulture);
            Assert.StartsWith($"Allocate {Resource}: {count} calls in the last ", summary);
            unlogged += count;
        }
        var allLogged = log.At(LogLevel.Information).Count(m => m.StartsWith($"Allocate {Resource}: 10 meta-devices", StringComparison.Ordinal));
        Assert.Equal(calls + 1, allLogged + unlogged);
    }

    [Fact]
    public async Task AReadOnlyStateDirectoryFailsTheAllocateWithEROFS()
    {
        await using var kubelet = await TestKubelet.StartAsync(_dir);
        await using var plugin = new InProcessPlugin(_dir, stateDirectory: _state);
        var devices = await kubelet.WaitForDevicesAsync(Resource, d => d.Count == 200, Wait);
        var ids = Ids(devices, plugin.Uuids[0], 10);
        using (FileSystemFixtures.ReadOnly(_state))
        {
            var e = await Assert.ThrowsAsync<RpcException>(async () => await kubelet.Plugin(Resource)!.Client.AllocateAsync(Request(ids)));
            Assert.Equal((StatusCode.Internal, $"cannot write {_state}/allocations/{AllocationKey.For(Resource, ids)}.json: Read-only file system (EROFS)"),
                (e.StatusCode, e.Status.Detail));
        }
    }
}
