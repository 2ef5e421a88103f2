using Google.Protobuf;
using MetaGpu.DevicePlugin;
using MetaGpu.Proto.DevicePlugin.V1Beta1;
using MetaGpu.Tests.Transport;

namespace MetaGpu.Tests.DevicePlugin;

/// <summary>
/// What the plugin keeps of allocations that do not recur: records are cached per plan (<see cref="PlanIndex.MaxRecords"/>)
/// and each keeps its answer and its file's bytes alive, so the cap bounds the daemon's memory. Measured on the
/// managed heap, in the collection that runs alone.
/// </summary>
[Collection(HeapMeasurementCollection.Name)]
public sealed class AllocationCacheMemoryTests
{
    /// <summary>
    /// A thousand distinct allocations of 30 meta-devices each leave at most 1.5 MB behind. With 512 records kept
    /// they left 3.25 MB (about 5.8 KB each: the record, its answer, its JSON); with 128, 0.83 MB.
    /// </summary>
    [Fact]
    public async Task AThousandDistinctAllocationsLeaveLittleBehind()
    {
        using var node = new MetaGpu.Tests.Support.SimulatedPlugin("8");
        var ids = PlanIndex.Of(node.Plan).Ids;
        var random = new Random(20261202);
        async Task AllocateAsync(int count)
        {
            for (var k = 0; k < count; k++)
            {
                var set = ids[k % ids.Length].OrderBy(_ => random.Next()).Take(30).ToList();
                var request = new AllocateRequest { ContainerRequests = { new ContainerAllocateRequest { DevicesIds = { set } } } };
                var answer = await node.Plugin.AllocateServed(KubeletQuery.ParseAllocate(request.ToByteArray()), null!);
                Assert.True(answer.CalculateSize() > 0);
            }
        }

        await AllocateAsync(20); // code paths warmed up, the plan's index built
        var before = GC.GetTotalMemory(forceFullCollection: true);
        await AllocateAsync(1000);
        var retained = GC.GetTotalMemory(forceFullCollection: true) - before;
        Assert.True(retained < 1_500_000, $"1,000 distinct allocations left {retained:N0} bytes on the heap");
        GC.KeepAlive(node);
    }
}
