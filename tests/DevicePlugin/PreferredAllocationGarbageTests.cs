using System.Buffers;
using Google.Protobuf;
using MetaGpu.DevicePlugin;
using MetaGpu.Proto.DevicePlugin.V1Beta1;
using MetaGpu.Tests.Support;

namespace MetaGpu.Tests.DevicePlugin;

/// <summary>
/// What the kubelet's 800-ID GetPreferredAllocation leaves for the collector. Counted in bytes allocated on the
/// calling thread (deterministic, not timed): the request's (offset, length) pairs and the located IDs come from
/// the shared pool and go back to it. Before, they were 17.6 KB and 6.4 KB of garbage per call, most of what the
/// benchmark's calls allocated.
/// </summary>
public sealed class PreferredAllocationGarbageTests
{
    [Fact]
    public async Task TheKubeletsRequestIsReadAndAnsweredWithoutGarbageForItsIds()
    {
        using var node = new SimulatedPlugin("8");
        var all = PlanIndex.Of(node.Plan).Ids.SelectMany(x => x).ToList();
        Assert.Equal(800, all.Count);
        var container = new ContainerPreferredAllocationRequest { AllocationSize = 400 };
        container.AvailableDeviceIDs.Add(all);
        var bytes = new PreferredAllocationRequest { ContainerRequests = { container } }.ToByteArray();

        long parse = 0, answer = 0;
        const int Warm = 5, Measured = 20;
        for (var i = 0; i < Warm + Measured; i++)
        {
            var before = GC.GetAllocatedBytesForCurrentThread();
            var query = KubeletQuery.ParsePreferred(new ReadOnlySequence<byte>(bytes));
            var parsed = GC.GetAllocatedBytesForCurrentThread();
            var served = node.Plugin.GetPreferredAllocation(query, null!); // disposes the query
            var after = GC.GetAllocatedBytesForCurrentThread();
            Assert.True(served.IsCompletedSuccessfully); // answered before it returned: nothing ran elsewhere
            Assert.Equal(400, (await served).ToResponse().ContainerResponses.Single().DeviceIDs.Count);
            if (i >= Warm)
            {
                parse += parsed - before;
                answer += after - parsed;
            }
        }

        Assert.True(parse / Measured < 1024, $"reading the request allocated {parse / Measured} bytes a call");
        // Left: the policy's per-GPU slots, the answer's 400 positions, the marks (about 6 KB).
        Assert.True(answer / Measured < 8 * 1024, $"answering allocated {answer / Measured} bytes a call");
    }
}
