using MetaGpu.Bench;
using MetaGpu.DevicePlugin.Config;

namespace MetaGpu.Tests.Bench;

/// <summary>The trace mode's metric, baselines and replay (bench/MetaGpu.Bench/Trace*.cs) on hand-built cases.</summary>
public class TraceReplayTests
{
    /// <summary>8 GPUs x 100, NUMA node 0: GPUs 0-3, node 1: GPUs 4-7.</summary>
    private static readonly TraceNode Eight = TraceNode.Of("8x100", "", 100, 0, 0, 0, 0, 1, 1, 1, 1);

    /// <summary>4 GPUs x 10, no NUMA information.</summary>
    private static readonly TraceNode Four = TraceNode.Of("4x10", "", 10, null, null, null, null);

    /// <summary>The IDs of <paramref name="perGpu"/> (GPU → how many, lowest shares).</summary>
    private static List<string> Ids(TraceNode node, params (int Gpu, int Count)[] perGpu)
    {
        var state = new TraceNodeState(node);
        return perGpu.SelectMany(p => Enumerable.Range(0, p.Count).Select(s => state.Id(p.Gpu, s))).ToList();
    }

    private static readonly int[] EmptyEight = [100, 100, 100, 100, 100, 100, 100, 100];

    [Fact]
    public void AFractionOnOneGpu_IsNoSplit_OnTwo_ItIs()
    {
        var one = PodOutcome.Of(Eight, 1, Ids(Eight, (2, 30)), EmptyEight);
        Assert.Equal((1, 1, 1), (one.Gpus, one.MinimumGpus, one.FewestFreeGpus));
        Assert.False(one.Split);
        Assert.False(one.AvoidableSplit);

        // 20 + 10 while GPU 2 had 100 free: split, and this answer's fault.
        var two = PodOutcome.Of(Eight, 2, Ids(Eight, (0, 20), (1, 10)), [20, 10, 100, 0, 0, 0, 0, 0]);
        Assert.Equal((2, 1, 1), (two.Gpus, two.MinimumGpus, two.FewestFreeGpus));
        Assert.True(two.Split);
        Assert.True(two.AvoidableSplit);

        // The same answer when no GPU had 30 free: still a forced split, but no policy could have done better then.
        var forced = PodOutcome.Of(Eight, 3, Ids(Eight, (0, 20), (1, 10)), [20, 10, 25, 0, 0, 0, 0, 0]);
        Assert.True(forced.Split);
        Assert.False(forced.AvoidableSplit);
        Assert.Equal(2, forced.FewestFreeGpus);
    }

    [Theory]
    [InlineData(new[] { 0, 100, 1, 50 }, 2, false)]           // 150 on two GPUs: the fewest
    [InlineData(new[] { 0, 50, 1, 50, 2, 50 }, 2, true)]      // 150 on three
    [InlineData(new[] { 0, 100, 1, 100 }, 2, false)]          // 200 on two whole GPUs
    [InlineData(new[] { 0, 100, 1, 99, 2, 1 }, 2, true)]      // 200 with one meta-device on a third GPU
    [InlineData(new[] { 0, 100 }, 1, false)]                  // exactly one GPU
    public void SplitMeans_MoreGpusThanTheRequestNeeds(int[] pairs, int minimum, bool split)
    {
        var perGpu = pairs.Chunk(2).Select(p => (p[0], p[1])).ToArray();
        var outcome = PodOutcome.Of(Eight, 1, Ids(Eight, perGpu), EmptyEight);
        Assert.Equal(perGpu.Length, outcome.Gpus);
        Assert.Equal(minimum, outcome.MinimumGpus);
        Assert.Equal(split, outcome.Split);
    }

    [Fact]
    public void NumaSplit_IsMoreNumaNodesThanTheRequestNeeds()
    {
        Assert.False(PodOutcome.Of(Eight, 1, Ids(Eight, (0, 100), (1, 100)), EmptyEight).NumaSplit);
        var across = PodOutcome.Of(Eight, 1, Ids(Eight, (3, 100), (4, 100)), EmptyEight);
        Assert.Equal((2, 1), (across.NumaNodes, across.MinimumNumaNodes));
        Assert.True(across.NumaSplit);
        Assert.False(across.Split); // two GPUs is the fewest: a NUMA split is not a GPU split

        // 500 needs both nodes (400 each).
        var big = PodOutcome.Of(Eight, 1, Ids(Eight, (0, 100), (1, 100), (2, 100), (3, 100), (4, 100)), EmptyEight);
        Assert.Equal((2, 2), (big.NumaNodes, big.MinimumNumaNodes));
        Assert.False(big.NumaSplit);

        // GPUs without a NUMA node are one node.
        var unknown = PodOutcome.Of(Four, 1, Ids(Four, (0, 5), (3, 5)), [10, 10, 10, 10]);
        Assert.Equal((1, 1), (unknown.NumaNodes, unknown.MinimumNumaNodes));
        Assert.True(unknown.Split);
    }

    [Theory]
    [InlineData(new[] { 40, 70, 50, 20 }, 90, 2)]
    [InlineData(new[] { 40, 70, 50, 20 }, 70, 1)]
    [InlineData(new[] { 40, 70, 50, 20 }, 161, 4)]
    [InlineData(new[] { 40, 70, 50, 20 }, 500, 4)]   // cannot: all of them
    [InlineData(new[] { 0, 0, 30, 0 }, 30, 1)]
    [InlineData(new[] { 10, 10 }, 0, 0)]
    public void FewestAddingUpTo_TakesTheLargestFirst(int[] blocks, int count, int expected) =>
        Assert.Equal(expected, PodOutcome.FewestAddingUpTo(blocks, count));

    [Theory]
    //          free per GPU      size   best fit           first fit          most free
    [InlineData(new[] { 40, 70, 50, 20 }, 45, new[] { 0, 0, 45, 0 }, new[] { 0, 45, 0, 0 }, new[] { 0, 45, 0, 0 })]
    [InlineData(new[] { 40, 70, 50, 20 }, 20, new[] { 0, 0, 0, 20 }, new[] { 20, 0, 0, 0 }, new[] { 0, 20, 0, 0 })]
    [InlineData(new[] { 40, 70, 50, 20 }, 90, new[] { 0, 70, 0, 20 }, new[] { 40, 50, 0, 0 }, new[] { 0, 70, 20, 0 })]
    [InlineData(new[] { 40, 70, 50, 20 }, 125, new[] { 0, 70, 50, 5 }, new[] { 40, 70, 15, 0 }, new[] { 5, 70, 50, 0 })] // 70, 50, then 5: best fit on the 20, most free on the 40
    [InlineData(new[] { 0, 50, 50, 30 }, 30, new[] { 0, 0, 0, 30 }, new[] { 0, 30, 0, 0 }, new[] { 0, 30, 0, 0 })]
    [InlineData(new[] { 50, 50 }, 30, new[] { 30, 0 }, new[] { 30, 0 }, new[] { 30, 0 })]   // ties: the lowest index
    [InlineData(new[] { 10, 0, 10 }, 20, new[] { 10, 0, 10 }, new[] { 10, 0, 10 }, new[] { 10, 0, 10 })]
    public void Baselines(int[] free, int size, int[] bestFit, int[] firstFit, int[] mostFree)
    {
        Assert.Equal(bestFit, CountPolicy.BestFit(free, size));
        Assert.Equal(firstFit, CountPolicy.FirstFit(free, size));
        Assert.Equal(mostFree, CountPolicy.MostFree(free, size));
    }

    private static TraceEvent[] Script(params (int Pod, int Size, bool Arrives)[] steps)
    {
        var pods = new Dictionary<int, TracePod>();
        return steps.Select((s, i) =>
        {
            if (!pods.TryGetValue(s.Pod, out var pod))
                pods[s.Pod] = pod = new TracePod(s.Pod, s.Size, i, double.PositiveInfinity);
            return new TraceEvent(i, pod, s.Arrives);
        }).ToArray();
    }

    [Fact]
    public void Replay_AdmitsByCount_AndTheCountAloneMaySplitAPod()
    {
        // Four pods of 6 on 4 x 10 leave 4 free on every GPU; a pod of 16 is admitted (16 free in all), and only
        // four GPUs hold it: a forced split no policy could avoid then. A pod of 1 more does not fit at all.
        var events = Script((1, 6, true), (2, 6, true), (3, 6, true), (4, 6, true), (5, 16, true), (6, 1, true),
            (2, 0, false), (7, 6, true));
        var outcome = TraceReplay.Run(Four, events, new CountPolicy("best-fit", CountPolicy.BestFit));
        Assert.Equal([6], outcome.Rejected);
        Assert.Equal([1, 2, 3, 4, 5, 7], outcome.Admitted.Select(p => p.PodId));
        var big = outcome.Admitted.Single(p => p.PodId == 5);
        Assert.Equal((4, 2, 4), (big.Gpus, big.MinimumGpus, big.FewestFreeGpus));
        Assert.True(big.Split);
        Assert.False(big.AvoidableSplit);
        Assert.Equal(1, outcome.Splits);
        Assert.Equal(0, outcome.AvoidableSplits);
        Assert.Equal((1 + 1 + 1 + 1 + 4 + 1) / 6.0, outcome.GpusPerPod, 9);
    }

    [Fact]
    public void Replay_TheFragmentsOfEarlierAnswers_ForceASplitLater()
    {
        // 4 x 10. Pod 1 (8) on GPU 0, pod 2 (5) on GPU 1, pod 1 leaves: free 10, 5, 10, 10. Pod 3 (4): first fit takes
        // GPU 0, best fit GPU 1 (the least room that holds it). Pods 4 and 5 (10 each) take whole GPUs; pod 6 (10)
        // then finds one whole GPU under best fit (free 0, 1, 0, 10) and none under first fit (free 6, 5, 0, 0).
        var events = Script((1, 8, true), (2, 5, true), (1, 8, false), (3, 4, true), (4, 10, true), (5, 10, true), (6, 10, true));
        var firstFit = TraceReplay.Run(Four, events, new CountPolicy("first-fit", CountPolicy.FirstFit));
        var last = firstFit.Admitted[^1];
        Assert.Equal((6, 2, 1, 2), (last.PodId, last.Gpus, last.MinimumGpus, last.FewestFreeGpus));
        Assert.True(last.Split);
        Assert.False(last.AvoidableSplit); // forced by pod 3's place, not by this answer
        Assert.Equal(1, firstFit.Splits);

        foreach (var policy in new TracePolicy[] { new CountPolicy("best-fit", CountPolicy.BestFit), new MetaGpuPolicy(AllocationPolicyKind.Packed) })
        {
            var outcome = TraceReplay.Run(Four, events, policy);
            Assert.Equal(0, outcome.Splits);
            Assert.Equal(1.0, outcome.GpusPerPod);
        }
    }

    [Fact]
    public void Replay_APodBiggerThanAnyGpusFreeShare_IsSplitUnderEveryPolicy()
    {
        // Pods of 7, 4, 8 and 9 leave 3, 6, 2 and 1 free under every policy; a pod of 12 is admitted (12 free in all)
        // and needs all four GPUs.
        var events = Script((1, 7, true), (2, 4, true), (3, 8, true), (4, 9, true), (5, 12, true));
        foreach (var policy in TracePolicy.All())
        {
            var outcome = TraceReplay.Run(Four, events, policy);
            Assert.Empty(outcome.Rejected);
            var last = outcome.Admitted[^1];
            Assert.Equal((4, 2, 4), (last.Gpus, last.MinimumGpus, last.FewestFreeGpus));
            Assert.True(last.Split, policy.Name);
            Assert.False(last.AvoidableSplit, policy.Name);
        }
    }

    [Fact]
    public void Replay_OfAGeneratedTrace_SamePodsUnderEveryPolicy_AndMetaGpuNeverMakesAnAvoidableSplit()
    {
        foreach (var node in TraceNode.Standard)
        {
            var workload = new TraceWorkload(node, 300, 0.9);
            for (var seed = 0; seed < 5; seed++)
            {
                var events = workload.Generate(seed);
                var outcomes = TracePolicy.All().Select(p => TraceReplay.Run(node, events, p)).ToList();
                foreach (var o in outcomes)
                {
                    Assert.Equal(outcomes[0].Rejected, o.Rejected);
                    Assert.Equal(outcomes[0].Admitted.Select(p => (p.PodId, p.Size)), o.Admitted.Select(p => (p.PodId, p.Size)));
                    Assert.Equal(300, o.Admitted.Count + o.Rejected.Count);
                }
                Assert.NotEmpty(outcomes[0].Rejected); // the load makes the node full now and then

                foreach (var kind in new[] { AllocationPolicyKind.Packed, AllocationPolicyKind.Spread })
                {
                    var ours = outcomes.Single(o => o.Policy == "metagpu-" + kind.ToString().ToLowerInvariant());
                    Assert.Equal(0, ours.AvoidableSplits);
                }
                var firstFit = outcomes.Single(o => o.Policy == "first-fit");
                Assert.True(firstFit.AvoidableSplits > 0, "first fit splits where one GPU had room");

                // Replaying again gives the same outcome, pod by pod.
                Assert.Equal(outcomes[0].Admitted, TraceReplay.Run(node, events, TracePolicy.All()[0]).Admitted);
            }
        }
    }

    [Fact]
    public void NodeState_RefusesToTakeWhatIsTaken_OrFreeWhatIsFree()
    {
        var state = new TraceNodeState(Four);
        state.Take([(1, 2)]);
        Assert.Equal([10, 9, 10, 10], state.FreeCounts.ToArray());
        Assert.Equal(39, state.FreeTotal);
        Assert.DoesNotContain(state.Id(1, 2), state.FreeIds());
        Assert.Equal([(1, 0), (1, 1), (1, 3)], state.LowestFree(1, 3));
        Assert.Throws<InvalidOperationException>(() => state.Take([(1, 2)]));
        state.Release([(1, 2)]);
        Assert.Throws<InvalidOperationException>(() => state.Release([(1, 2)]));
        Assert.Equal(40, state.FreeIds().Count);
        Assert.Equal((3, 9), state.Locate(state.Id(3, 9)));
    }

    [Fact]
    public void MeanWithError_IsTheSampleStandardDeviationOverRootN()
    {
        var m = MeanWithError.Of([1, 2, 3, 4]);
        Assert.Equal(2.5, m.Mean, 12);
        Assert.Equal(Math.Sqrt(5.0 / 3 / 4), m.StandardError, 12); // variance (2.25+0.25+0.25+2.25)/3
        Assert.Equal("2.50 ± 0.65", m.Format("F2"));

        var d = MeanWithError.OfDifferences([3, 5, 7], [1, 2, 3]); // 2, 3, 4
        Assert.Equal(3, d.Mean, 12);
        Assert.Equal(Math.Sqrt(1.0 / 3), d.StandardError, 12);
        Assert.Throws<ArgumentException>(() => MeanWithError.Of([1]));
    }
}
