using Google.Protobuf;
using MetaGpu.DevicePlugin;
using MetaGpu.DevicePlugin.Config;
using MetaGpu.Proto.DevicePlugin.V1Beta1;

namespace MetaGpu.Tests.DevicePlugin;

/// <summary>
/// Allocate's answers made once per allocation record and sent as bytes (<see cref="AllocateAnswer"/>): a repeat gets
/// the answer a fresh plugin would give, and what the answer depends on besides the record (the device-list strategy,
/// mgctl's mounts) is never answered from an older entry.
/// </summary>
public sealed class AllocateAnswerTests : IDisposable
{
    private readonly DirectoryInfo _state = Directory.CreateTempSubdirectory("mg-answer-");
    private readonly MetaGpu.Nvml.SimulatedBackend _backend = MetaGpu.Nvml.SimulatedBackend.Parse("2");
    private readonly PluginNode _node;

    public AllocateAnswerTests() => _node = MetaGpu.Tests.Support.SimulatedPluginNode.Of(_backend, _state.FullName);

    public void Dispose()
    {
        _backend.Dispose();
        _state.Delete(recursive: true);
    }

    private const string Resource = ResourceSharing.DefaultResourceName;

    private MetaGpuDevicePlugin Plugin(ContainerAdditions? additions = null) =>
        new(Resource, _node.State, _node.Allocations, null, CancellationToken.None, additions);

    private List<string> Ids(int gpu, int first, int count) =>
        [.. PlanIndex.Of(_node.State.Current.Plan.Find(Resource)!).Ids[gpu].Skip(first).Take(count)];

    private static AllocateRequest Request(params List<string>[] containers)
    {
        var request = new AllocateRequest();
        foreach (var ids in containers)
        {
            var c = new ContainerAllocateRequest();
            c.DevicesIds.Add(ids);
            request.ContainerRequests.Add(c);
        }
        return request;
    }

    /// <summary>The request as the server reads it off the wire.</summary>
    private static KubeletQuery Query(AllocateRequest request) => KubeletQuery.ParseAllocate(request.ToByteArray());

    private static byte[] Bytes(AllocateAnswer answer)
    {
        var bytes = new byte[answer.CalculateSize()];
        answer.WriteTo(bytes);
        return bytes;
    }

    [Fact]
    public async Task ARepeatIsAnsweredWithTheBytesAFreshPluginWouldSend()
    {
        var plugin = Plugin();
        var request = Request(Ids(0, 0, 30), Ids(1, 10, 5));
        var first = Bytes(await plugin.AllocateServed(Query(request), null!));
        var again = Bytes(await plugin.AllocateServed(Query(Request(Ids(0, 0, 30).AsEnumerable().Reverse().ToList(), Ids(1, 10, 5))), null!));
        var fresh = Bytes(await Plugin().AllocateServed(Query(request), null!));
        Assert.Equal(first, again);
        Assert.Equal(fresh, again);

        var response = AllocateResponse.Parser.ParseFrom(again);
        Assert.Equal(2, response.ContainerResponses.Count);
        Assert.Equal("30", response.ContainerResponses[0].Envs["METAGPU_REQUEST"]);
        Assert.Equal(string.Join(",", Ids(1, 10, 5).Order(StringComparer.Ordinal)), response.ContainerResponses[1].Envs["METAGPU_DEVICE_IDS"]);
        Assert.Equal(response, await plugin.Allocate(request, null!)); // the generated entry answers the same
        Assert.Equal(again, response.ToByteArray()); // byte for byte what Google.Protobuf writes for it
    }

    [Fact]
    public async Task MgctlsMountsPublishedAfterAnAnswerAreInTheNextOne()
    {
        var additions = new ContainerAdditions();
        var plugin = Plugin(additions);
        var request = Request(Ids(0, 0, 30));
        var before = (await plugin.Allocate(request, null!)).ContainerResponses.Single();
        Assert.DoesNotContain(before.Mounts, m => m.ContainerPath == "/usr/local/bin/mgctl");

        additions.Publish(new ContainerAdditions.Snapshot([new ContainerMount("/usr/local/bin/mgctl", "/var/lib/metagpu/mgctl")], [new("METAGPU_CTL", "x")]));
        var after = (await plugin.Allocate(request, null!)).ContainerResponses.Single();
        Assert.Contains(after.Mounts, m => m.ContainerPath == "/usr/local/bin/mgctl" && m.HostPath == "/var/lib/metagpu/mgctl");
        Assert.Equal("x", after.Envs["METAGPU_CTL"]);
    }

    [Fact]
    public async Task AChangedDeviceListStrategyIsInTheNextAnswer()
    {
        var plugin = Plugin();
        var request = Request(Ids(0, 0, 30));
        var envVar = (await plugin.Allocate(request, null!)).ContainerResponses.Single();
        Assert.True(envVar.Envs.ContainsKey("NVIDIA_VISIBLE_DEVICES"));
        Assert.Empty(envVar.CdiDevices);

        _node.State.Update(s => s with
        {
            Config = s.Config with { DeviceListStrategy = DeviceListStrategy.CdiCri },
        });
        var cdi = (await plugin.Allocate(request, null!)).ContainerResponses.Single();
        Assert.False(cdi.Envs.ContainsKey("NVIDIA_VISIBLE_DEVICES"));
        Assert.Single(cdi.CdiDevices);
    }

    [Fact]
    public void BindsTheKubeletsMethodNames()
    {
        Assert.Equal(KubeletApi.Allocate.FullName, AllocateAnswer.Method.FullName);
        Assert.Equal(KubeletApi.Allocate.Type, AllocateAnswer.Method.Type);
        Assert.Equal(KubeletApi.GetPreferredAllocation.FullName, PreferredAllocationWire.Method.FullName);
        Assert.Equal(KubeletApi.GetPreferredAllocation.Type, PreferredAllocationWire.Method.Type);
    }
}
