using MetaGpu.DevicePlugin;

namespace MetaGpu.Bench;

/// <summary>
/// Where one admitted pod landed, against what it needed.
/// </summary>
/// <param name="Gpus">GPUs its meta-devices are on.</param>
/// <param name="MinimumGpus">The fewest GPUs of the node whose meta-devices add up to its request
/// (<see cref="AllocationShape.MinimumGpus"/>: from the GPUs' sizes, not from what was free).</param>
/// <param name="FewestFreeGpus">The fewest GPUs whose FREE meta-devices, when it came, added up to its request: what
/// any policy could have done at that moment.</param>
/// <param name="NumaNodes">NUMA nodes of its GPUs (GPUs without a NUMA node count as one node).</param>
/// <param name="MinimumNumaNodes">The fewest NUMA nodes whose GPUs' meta-devices add up to its request.</param>
public sealed record PodOutcome(int PodId, int Size, int Gpus, int MinimumGpus, int FewestFreeGpus, int NumaNodes, int MinimumNumaNodes)
{
    /// <summary>A forced split: on more GPUs than its request needs (a request of at most N on two or more GPUs, 150
    /// of N = 100 on three, …). <see cref="AllocationShape.SpansMoreGpusThanNeeded"/>. A policy causes it by the
    /// fragments its earlier answers left, or by this answer.</summary>
    public bool Split => Gpus > MinimumGpus;

    /// <summary>On more GPUs than the free meta-devices made necessary when it came: this answer alone is to
    /// blame.</summary>
    public bool AvoidableSplit => Gpus > FewestFreeGpus;

    /// <summary>On more NUMA nodes than its request needs.</summary>
    public bool NumaSplit => NumaNodes > MinimumNumaNodes;

    /// <param name="freeBefore">Free meta-devices per GPU (plan position) just before the pod was placed.</param>
    public static PodOutcome Of(TraceNode node, int podId, IReadOnlyList<string> ids, ReadOnlySpan<int> freeBefore)
    {
        var shape = AllocationPolicy.Describe(node.Plan, ids.ToArray());
        var numaNodes = shape.PerGpu.Select(g => g.Gpu.NumaNode).Distinct().Count();
        var perNode = node.Plan.Gpus.GroupBy(g => g.NumaNode).Select(g => g.Sum(x => x.MetaGpus)).ToArray();
        return new PodOutcome(podId, ids.Count, shape.PerGpu.Count, shape.MinimumGpus,
            FewestAddingUpTo(freeBefore.ToArray(), ids.Count), numaNodes, FewestAddingUpTo(perNode, ids.Count));
    }

    /// <summary>How many of <paramref name="blocks"/>, largest first, add up to <paramref name="count"/> (all of them
    /// when they cannot); largest first is the fewest.</summary>
    public static int FewestAddingUpTo(int[] blocks, int count)
    {
        var used = 0;
        long held = 0;
        foreach (var block in blocks.Where(b => b > 0).OrderDescending())
        {
            if (held >= count)
                break;
            held += block;
            used++;
        }
        return used;
    }
}

/// <summary>A trace replayed under one policy: what every pod got, in arrival order, and which were turned
/// away.</summary>
public sealed record TraceOutcome(string Policy, IReadOnlyList<PodOutcome> Admitted, IReadOnlyList<int> Rejected)
{
    public int Splits => Admitted.Count(p => p.Split);

    public int AvoidableSplits => Admitted.Count(p => p.AvoidableSplit);

    public int NumaSplits => Admitted.Count(p => p.NumaSplit);

    public double GpusPerPod => Admitted.Count == 0 ? 0 : Admitted.Average(p => p.Gpus);
}

/// <summary>
/// Replays a trace as the kubelet runs a node: a pod is admitted when the node's free meta-device COUNT is at least its
/// request (the kubelet's admission knows counts, not GPUs), else turned away for good; the policy then says which IDs
/// it gets (GetPreferredAllocation), and they are free again when it leaves.
/// </summary>
public static class TraceReplay
{
    public static TraceOutcome Run(TraceNode node, IReadOnlyList<TraceEvent> events, TracePolicy policy)
    {
        var state = new TraceNodeState(node);
        var running = new Dictionary<int, IReadOnlyList<(int Gpu, int Share)>>();
        var admitted = new List<PodOutcome>();
        var rejected = new List<int>();
        foreach (var e in events)
        {
            if (!e.Arrives)
            {
                if (running.Remove(e.Pod.Id, out var shares))
                    state.Release(shares);
                continue;
            }
            if (state.FreeTotal < e.Pod.Size)
            {
                rejected.Add(e.Pod.Id);
                continue;
            }
            var freeBefore = state.FreeCounts.ToArray();
            var chosen = policy.Choose(state, e.Pod.Size);
            if (chosen.Count != e.Pod.Size || chosen.Distinct().Count() != chosen.Count)
                throw new InvalidOperationException($"{policy.Name} gave {chosen.Distinct().Count()} distinct meta-devices for a request of {e.Pod.Size}");
            state.Take(chosen); // throws when one was not free
            running.Add(e.Pod.Id, chosen);
            admitted.Add(PodOutcome.Of(node, e.Pod.Id, chosen.Select(c => state.Id(c.Gpu, c.Share)).ToList(), freeBefore));
        }
        return new TraceOutcome(policy.Name, admitted, rejected);
    }
}
