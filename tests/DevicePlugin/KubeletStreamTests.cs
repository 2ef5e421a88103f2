using Grpc.Core;
using MetaGpu.DevicePlugin;
using MetaGpu.DevicePlugin.Config;
using MetaGpu.Proto.DevicePlugin.V1Beta1;

namespace MetaGpu.Tests.DevicePlugin;

/// <summary>
/// The plugin's contract with the kubelet under other clients: only the kubelet's own ListAndWatch stream counts,
/// requests are bounded, and a resource name as long as Kubernetes allows still gets a socket.
/// </summary>
public sealed class KubeletStreamTests : IAsyncLifetime
{
    private const string Resource = ResourceSharing.DefaultResourceName;
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(15);
    private string _root = "";
    private string _dir = "";

    public Task InitializeAsync()
    {
        // As long as the kubelet's real directory, so socket paths are as long as on a node.
        _root = Directory.CreateTempSubdirectory("mg-ks-").FullName;
        var pad = PluginDaemonOptions.DefaultPluginDirectory.Length - _root.Length - 1;
        _dir = pad > 0 ? Directory.CreateDirectory(Path.Combine(_root, new string('d', pad))).FullName : _root;
        return Task.CompletedTask;
    }

    public Task DisposeAsync()
    {
        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
        }
        return Task.CompletedTask;
    }

    private static async Task UntilAsync(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow + Wait;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"{what} did not happen within {Wait.TotalSeconds} s");
            await Task.Delay(20);
        }
    }

    [Fact]
    public async Task StrayListAndWatchStreamsComeAndGoWithoutReRegistrationButTheKubeletsOwnEndStillCounts()
    {
        await using var kubelet = await TestKubelet.StartAsync(_dir);
        await using var plugin = new InProcessPlugin(_dir);
        await kubelet.WaitForDevicesAsync(Resource, d => d.Count == 200, Wait);
        var endpoint = plugin.Manager.Endpoint(Resource)!;
        Assert.Equal(1, kubelet.Registrations);

        for (var i = 0; i < 20; i++)
        {
            // A client of its own (its own connection), as a probe or a debugging tool would be.
            var stray = new PluginView(Resource, endpoint.SocketPath);
            stray.StartListAndWatch();
            await UntilAsync(() => stray.Devices is not null, $"stray stream {i + 1} getting its snapshot");
            stray.Close();
            await UntilAsync(() => endpoint.Service.OpenStreams == 1 || kubelet.Registrations > 1, $"stray stream {i + 1} ending on the plugin's side");
            Assert.True(kubelet.Registrations == 1, $"stray stream {i + 1} made the plugin register again");
        }
        // Give the manager many polls (50 ms each) to react, were it going to.
        await Task.Delay(1000);
        Assert.Equal(1, kubelet.Registrations);
        Assert.Equal(1, plugin.Manager.Registrations);
        Assert.Same(endpoint, plugin.Manager.Endpoint(Resource));

        // The kubelet's own stream ending still means "the kubelet went away": register again.
        kubelet.Plugin(Resource)!.Close();
        await UntilAsync(() => kubelet.Registrations == 2, "re-registration after the kubelet's stream ended");
        await kubelet.WaitForDevicesAsync(Resource, d => d.Count == 200, Wait);
    }

    [Fact]
    public async Task AllocateAndPreferredAllocationRefuseMoreContainersThanTheCap()
    {
        await using var kubelet = await TestKubelet.StartAsync(_dir);
        await using var plugin = new InProcessPlugin(_dir);
        var devices = await kubelet.WaitForDevicesAsync(Resource, d => d.Count == 200, Wait);
        var client = kubelet.Plugin(Resource)!.Client;
        var id = devices.Keys.First();

        var allocate = new AllocateRequest();
        for (var i = 0; i < MetaGpuDevicePlugin.MaxContainersPerRequest + 1; i++)
            allocate.ContainerRequests.Add(new ContainerAllocateRequest { DevicesIds = { id } });
        var e = await Assert.ThrowsAsync<RpcException>(async () => await client.AllocateAsync(allocate));
        Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
        Assert.Equal($"{Resource}: Allocate asks for 65 containers; at most 64 are accepted in one request (the kubelet sends one)", e.Status.Detail);

        var preferred = new PreferredAllocationRequest();
        for (var i = 0; i < MetaGpuDevicePlugin.MaxContainersPerRequest + 1; i++)
            preferred.ContainerRequests.Add(new ContainerPreferredAllocationRequest { AvailableDeviceIDs = { id }, AllocationSize = 1 });
        e = await Assert.ThrowsAsync<RpcException>(async () => await client.GetPreferredAllocationAsync(preferred));
        Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
        Assert.Contains("at most 64", e.Status.Detail);

        // 64 distinct containers are still served (the cap is not below what it documents).
        var ok = new AllocateRequest();
        foreach (var d in devices.Keys.Take(MetaGpuDevicePlugin.MaxContainersPerRequest))
            ok.ContainerRequests.Add(new ContainerAllocateRequest { DevicesIds = { d } });
        Assert.Equal(64, (await client.AllocateAsync(ok)).ContainerResponses.Count);
    }

    [Fact]
    public async Task DuplicateIdsAreInvalidArgumentInOurOwnWords()
    {
        await using var kubelet = await TestKubelet.StartAsync(_dir);
        await using var plugin = new InProcessPlugin(_dir);
        var devices = await kubelet.WaitForDevicesAsync(Resource, d => d.Count == 200, Wait);
        var client = kubelet.Plugin(Resource)!.Client;
        var id = devices.Keys.First();
        var expected = $"'{id}' occurs more than once in the request for {Resource}";

        var e = await Assert.ThrowsAsync<RpcException>(async () => await client.AllocateAsync(new AllocateRequest
        {
            ContainerRequests = { new ContainerAllocateRequest { DevicesIds = { id, devices.Keys.Last(), id } } },
        }));
        Assert.Equal((StatusCode.InvalidArgument, expected), (e.StatusCode, e.Status.Detail));

        e = await Assert.ThrowsAsync<RpcException>(async () => await client.GetPreferredAllocationAsync(new PreferredAllocationRequest
        {
            ContainerRequests = { new ContainerPreferredAllocationRequest { AvailableDeviceIDs = { id, id }, AllocationSize = 1 } },
        }));
        Assert.Equal((StatusCode.InvalidArgument, expected), (e.StatusCode, e.Status.Detail));

        // Among many, in the must-include list too, and an ID the plugin does not have, listed twice.
        var last = devices.Keys.Last();
        foreach (var (available, must, twice) in new[]
        {
            (devices.Keys.Append(last).ToArray(), Array.Empty<string>(), last),
            (devices.Keys.ToArray(), new[] { last, id, last }, last),
            (devices.Keys.Append("not-ours").Append("not-ours").ToArray(), Array.Empty<string>(), "not-ours"),
        })
        {
            e = await Assert.ThrowsAsync<RpcException>(async () => await client.GetPreferredAllocationAsync(new PreferredAllocationRequest
            {
                ContainerRequests = { new ContainerPreferredAllocationRequest { AvailableDeviceIDs = { available }, MustIncludeDeviceIDs = { must }, AllocationSize = 3 } },
            }));
            Assert.Equal((StatusCode.InvalidArgument, $"'{twice}' occurs more than once in the request for {Resource}"), (e.StatusCode, e.Status.Detail));
        }
        // An unknown ID once is no error: the policy leaves it out.
        var answer = await client.GetPreferredAllocationAsync(new PreferredAllocationRequest
        {
            ContainerRequests = { new ContainerPreferredAllocationRequest { AvailableDeviceIDs = { devices.Keys.Append("not-ours") }, AllocationSize = 3 } },
        });
        Assert.Equal(3, answer.ContainerResponses[0].DeviceIDs.Count);
    }

    [Fact]
    public async Task AllocateRefusesTheDevicesOfAnUnhealthyGpuAndSaysWhy()
    {
        await using var kubelet = await TestKubelet.StartAsync(_dir);
        await using var plugin = new InProcessPlugin(_dir);
        var devices = await kubelet.WaitForDevicesAsync(Resource, d => d.Count == 200, Wait);
        var client = kubelet.Plugin(Resource)!.Client;
        var sick = plugin.Uuids[1];
        var onSick = devices.Keys.First(k => k.EndsWith(sick, StringComparison.Ordinal));
        var onWell = devices.Keys.First(k => k.EndsWith(plugin.Uuids[0], StringComparison.Ordinal));

        plugin.SetHealth(sick, healthy: false, "XID 48");
        await kubelet.WaitForDevicesAsync(Resource, d => d[onSick].Health == "Unhealthy", Wait);
        var e = await Assert.ThrowsAsync<RpcException>(async () => await client.AllocateAsync(new AllocateRequest
        {
            ContainerRequests = { new ContainerAllocateRequest { DevicesIds = { onSick } } },
        }));
        Assert.Equal(StatusCode.FailedPrecondition, e.StatusCode);
        Assert.Equal($"{Resource}: GPU {sick} is unhealthy (XID 48); its meta-devices cannot be allocated until it recovers", e.Status.Detail);
        Assert.Single((await client.AllocateAsync(new AllocateRequest { ContainerRequests = { new ContainerAllocateRequest { DevicesIds = { onWell } } } })).ContainerResponses);

        plugin.SetHealth(sick, healthy: true);
        Assert.Single((await client.AllocateAsync(new AllocateRequest { ContainerRequests = { new ContainerAllocateRequest { DevicesIds = { onSick } } } })).ContainerResponses);
    }

    /// <summary>The longest name Kubernetes allows: a domain, '/', and 63 characters.</summary>
    private static readonly string LongResource = "example.com/" + new string('a', 30) + "-" + new string('b', 32);

    [Fact]
    public async Task AResourceNameOfSixtyThreeCharactersStartsRegistersAndServes()
    {
        Assert.Equal(63, LongResource.Length - "example.com/".Length);
        var config = new SharingConfig { Resources = [new ResourceSharing(LongResource, 10, [ResourceSharing.AllGpus], 0)] };
        await using var kubelet = await TestKubelet.StartAsync(_dir);
        await using var plugin = new InProcessPlugin(_dir, gpus: 1, config);
        await kubelet.WaitForDevicesAsync(LongResource, d => d.Count == 10, Wait);
        var (_, response) = await kubelet.Plugin(LongResource)!.AdmitAsync(2);
        Assert.Equal(LongResource, response.Envs["METAGPU_RESOURCE"]);
        AssertSocketNameFits(plugin.Manager.Endpoint(LongResource)!);
    }

    [Fact]
    public async Task ALiveReloadAddingASixtyThreeCharacterResourceServesItToo()
    {
        await using var kubelet = await TestKubelet.StartAsync(_dir);
        await using var plugin = new InProcessPlugin(_dir, gpus: 2);
        await kubelet.WaitForDevicesAsync(Resource, d => d.Count == 200, Wait);

        var config = new SharingConfig
        {
            Resources = [new ResourceSharing(Resource, 100, ["0"], 0), new ResourceSharing(LongResource, 4, ["1"], 0)],
        };
        plugin.State.Update(s => s with { Config = config, Plan = SharePlanBuilder.Build(config, s.Inventory) });
        await kubelet.WaitForDevicesAsync(LongResource, d => d.Count == 4, Wait);
        await kubelet.WaitForDevicesAsync(Resource, d => d.Count == 100, Wait);
        var (_, response) = await kubelet.Plugin(LongResource)!.AdmitAsync(1);
        Assert.Equal(LongResource, response.Envs["METAGPU_RESOURCE"]);
        AssertSocketNameFits(plugin.Manager.Endpoint(LongResource)!);
    }

    private static void AssertSocketNameFits(PluginEndpoint endpoint)
    {
        Assert.Matches(@"^metagpu-example\.com_a+-b*-?[0-9a-f]{8}\.sock$", endpoint.FileName);
        Assert.True(File.Exists(endpoint.SocketPath));
        // Short enough in the kubelet's own directory too, where it dials the name.
        Assert.True(System.Text.Encoding.UTF8.GetByteCount(Path.Combine(PluginDaemonOptions.DefaultPluginDirectory, endpoint.FileName)) <= 107);
    }
}
