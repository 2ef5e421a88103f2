using MetaGpu.Bench;

namespace MetaGpu.Tests.Bench;

/// <summary>The trace mode's random workload (bench/MetaGpu.Bench/TraceWorkload.cs): reproducible, well formed, and
/// the request mix it says.</summary>
public class TraceWorkloadTests
{
    private static readonly TraceNode Node = TraceNode.Of("t", "8 x 100", 100, 0, 0, 0, 0, 1, 1, 1, 1);

    [Fact]
    public void SameSeed_GivesTheSameTrace_AnotherSeed_AnotherOne()
    {
        var workload = new TraceWorkload(Node, 300, 0.9);
        Assert.Equal(workload.Generate(7), workload.Generate(7));
        Assert.Equal(workload.Generate(7), new TraceWorkload(Node, 300, 0.9).Generate(7));
        Assert.NotEqual(workload.Generate(7).Select(e => e.Pod), workload.Generate(8).Select(e => e.Pod));
    }

    [Fact]
    public void EveryPod_ArrivesOnce_ThenLeavesOnce_InTimeOrder()
    {
        var events = new TraceWorkload(Node, 500, 0.9).Generate(3);
        Assert.Equal(1000, events.Count);
        Assert.Equal(events.OrderBy(e => e.Time), events);
        var arrived = new HashSet<int>();
        var left = new HashSet<int>();
        foreach (var e in events)
        {
            if (e.Arrives)
            {
                Assert.True(arrived.Add(e.Pod.Id));
                Assert.Equal(e.Pod.Arrival, e.Time);
            }
            else
            {
                Assert.Contains(e.Pod.Id, arrived);
                Assert.True(left.Add(e.Pod.Id));
                Assert.Equal(e.Pod.Departure, e.Time);
            }
        }
        Assert.Equal(Enumerable.Range(0, 500), arrived.Order());
        Assert.Equal(arrived, left);
    }

    [Theory]
    [InlineData(100, 10, 50, 51, 99, 100, 400)]
    [InlineData(10, 1, 5, 6, 9, 10, 40)]
    public void RequestMix_ForN(int n, int smallFrom, int smallTo, int largeFrom, int largeTo, int whole, int most)
    {
        var mix = TraceWorkload.RequestMix(n);
        Assert.Equal(100, mix.Sum(k => k.Weight));
        Assert.Equal((smallFrom, smallTo), (mix[0].From, mix[0].To));
        Assert.Equal((largeFrom, largeTo), (mix[1].From, mix[1].To));
        Assert.Equal((whole, whole), (mix[2].From, mix[2].To));
        Assert.Equal([2 * n, 3 * n, 4 * n], Enumerable.Range(0, 3).Select(i => mix[3].From + i * mix[3].Step));
        Assert.Equal(most, mix[3].To);

        // Drawn sizes: only values of the mix, each kind about as often as its weight says.
        var random = new Random(11);
        var workload = new TraceWorkload(TraceNode.Of("t", "4", n, null, null, null, null), 10, 0.9);
        var sizes = Enumerable.Range(0, 20_000).Select(_ => workload.DrawSize(random)).ToList();
        Assert.All(sizes, s => Assert.InRange(s, smallFrom, most));
        Assert.Contains(smallFrom, sizes);
        Assert.Contains(smallTo, sizes);
        Assert.Contains(most, sizes);
        Assert.DoesNotContain(most + 1, sizes);
        var small = sizes.Count(s => s >= smallFrom && s <= smallTo) / (double)sizes.Count;
        Assert.InRange(small, 0.53, 0.57); // weight 55; no other kind reaches below N/2 + 1
        Assert.InRange(sizes.Average(), workload.MeanRequest * 0.97, workload.MeanRequest * 1.03);
    }

    [Fact]
    public void MeanRequestAndLifetime_GiveTheOfferedLoad()
    {
        var workload = new TraceWorkload(Node, 10, 0.9);
        // 0.55 × 30 + 0.15 × 75 + 0.15 × 100 + 0.10 × 300 + 0.05 × 250
        Assert.Equal(85.25, workload.MeanRequest, 9);
        // arrival rate 1 × lifetime × mean request = 0.9 × 800 meta-devices
        Assert.Equal(0.9 * 800, workload.MeanLifetime * workload.MeanRequest, 9);
    }

    [Fact]
    public void RequestMix_NeedsTenMetaDevicesPerGpu() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => TraceWorkload.RequestMix(4));
}
