using System.Runtime.InteropServices;
using MetaGpu.DevicePlugin.Config;

namespace MetaGpu.DevicePlugin;

/// <summary>
/// Which meta-devices a container should get: the answer to the kubelet's <c>GetPreferredAllocation</c>, and the
/// shape of an allocation for <c>Allocate</c>. Pure and deterministic: the answer depends only on the plan and the
/// sets of IDs (not on their order or repetitions), so it is safe to call from any thread.
/// </summary>
/// <remarks>
/// <para>An ID belongs to the plan when it is spelled exactly as the plugin advertises it
/// (<see cref="MetaDeviceId.ToString"/>), its UUID is a GPU of the plan, its GPU index is that GPU's index and its share
/// index is below that GPU's meta-device count N. Other IDs are ignored by <see cref="Preferred"/> and rejected by
/// <see cref="Describe"/>.</para>
/// <para>The request R = size − |must-include| is placed in this order (each step only when the earlier ones do not
/// apply):</para>
/// <list type="number">
/// <item>size ≥ the usable available IDs: all of them. |must-include| ≥ size: the first <c>size</c> must-include IDs
/// in canonical order (the kubelet promises |must-include| ≤ size; this is what a broken promise gets).</item>
/// <item>R fits in the free meta-devices of the GPUs must-include already touches: there, on one GPU if one holds
/// it (chosen as for the fraction below), else largest free blocks first and the last part best fit.</item>
/// <item>Whole GPUs plus one fraction. With N<sub>s</sub> the largest N among GPUs with free meta-devices (the common N
/// when they agree): k = R / N<sub>s</sub> completely free GPUs with N = N<sub>s</sub>, and the fraction
/// f = R % N<sub>s</sub> on ONE other GPU with at least f free. The fraction's GPU is, in order: one touched by
/// must-include; the fewest free (<see cref="AllocationPolicyKind.Packed"/>) or the most free
/// (<see cref="AllocationPolicyKind.Spread"/>); on a NUMA node of the rest of the allocation; the lowest index. The
/// whole GPUs are the k lowest-index free GPUs of one NUMA node (or, when no node has k, taken node by node, the
/// must-include node and the biggest nodes first); among the nodes, the choice whose allocation (must-include GPUs,
/// whole GPUs and fraction GPU) spans the fewest NUMA nodes wins, then the lowest GPU indexes.</item>
/// <item>Spill, when there are fewer than k free whole GPUs or no single GPU holds the fraction: everything free on
/// the must-include GPUs, then the largest free blocks first, and the last part on the smallest block that holds it
/// (ties: a NUMA node already in the allocation, then the lowest index). This touches the fewest GPUs possible.</item>
/// </list>
/// <para>Within a GPU the lowest free share indexes are taken. The answer is in canonical order: GPU index, then
/// share index.</para>
/// <para>The same rules as one order of preferences, each deciding only among the answers the earlier ones left equal
/// (NUMA is a tie-break: it never costs a GPU, nor the policy's choice of the fraction's GPU):</para>
/// <list type="number">
/// <item>Every must-include ID, and the rest on the GPUs they touch when it fits there.</item>
/// <item>The fewest GPUs: k whole GPUs and one fraction GPU, else (spill) the largest free blocks first.</item>
/// <item>The policy, for the fraction's GPU: the fewest free that hold it (packed, best fit) or the most free (spread).
/// In a spill the last part goes on the smallest block that holds it, under either policy.</item>
/// <item>NUMA: the whole GPUs on one node when a node has k of them, and the choice that spans the fewest nodes; a
/// fraction GPU or spill block on a node already in the allocation before one on another node. GPUs without a NUMA
/// node count as one node.</item>
/// <item>The lowest GPU index (then UUID, for two GPUs under one index).</item>
/// <item>Within a GPU, the lowest share indexes.</item>
/// </list>
/// <para>Every tie ends at the GPU's place in (index, UUID) order, never at the order of the inputs:
/// AllocationPolicyDeterminismTests holds this over plans made for ties.</para>
/// </remarks>
public static class AllocationPolicy
{
    /// <summary>
    /// The IDs the kubelet should prefer for a request of <paramref name="size"/> meta-devices: exactly
    /// min(size, usable available) distinct IDs, all of them available and of the plan, including every usable
    /// must-include ID (see the type's remarks for a must-include set bigger than <paramref name="size"/>).
    /// </summary>
    public static IReadOnlyList<string> Preferred(
        ResourcePlan plan,
        IReadOnlyCollection<string> available,
        IReadOnlyCollection<string> mustInclude,
        int size,
        AllocationPolicyKind policy)
    {
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentNullException.ThrowIfNull(available);
        ArgumentNullException.ThrowIfNull(mustInclude);
        if (size <= 0)
            return [];

        var index = PlanIndex.Of(plan);
        var positions = Preferred(index, CollectionsMarshal.AsSpan(Locate(index, available)), CollectionsMarshal.AsSpan(Locate(index, mustInclude)),
            size, policy);
        var ids = new List<string>(positions.Count);
        foreach (var p in positions)
            ids.Add(index.IdAt(p));
        return ids;
    }

    /// <summary>Where the plan's IDs among <paramref name="ids"/> lie (order, share), in their order; IDs the plan does not have are left out.</summary>
    internal static List<(int Order, int Share)> Locate(PlanIndex index, IReadOnlyCollection<string> ids)
    {
        var found = new List<(int, int)>(ids.Count);
        foreach (var id in ids)
        {
            if (index.TryFind(id, out var order, out var share))
                found.Add((order, share));
        }
        return found;
    }

    /// <summary>
    /// <see cref="Preferred(ResourcePlan, IReadOnlyCollection{string}, IReadOnlyCollection{string}, int, AllocationPolicyKind)"/>
    /// of meta-devices already located in the plan (<see cref="Locate"/>): each ID is looked up once per call.
    /// </summary>
    internal static List<int> Preferred(PlanIndex index, ReadOnlySpan<(int Order, int Share)> available, ReadOnlySpan<(int Order, int Share)> mustInclude, int size,
        AllocationPolicyKind policy)
    {
        if (size <= 0)
            return [];
        var slots = Slots(index);
        var usable = 0;
        foreach (var (order, share) in available)
        {
            if (!slots[order].Available[share])
            {
                var slot = slots[order];
                slot.Available[share] = true;
                slot.AvailableCount++;
                usable++;
            }
        }

        var must = 0;
        foreach (var (order, share) in mustInclude)
        {
            if (slots[order].Available[share] && !slots[order].Must[share])
            {
                var slot = slots[order];
                slot.Must[share] = true;
                slot.MustCount++;
                must++;
            }
        }

        if (size >= usable)
        {
            foreach (var s in slots)
                s.Take = s.Free;
            return Emit(index, slots, usable);
        }
        if (must >= size)
            return EmitMust(index, slots, size);

        Place(slots, size - must, policy);
        return Emit(index, slots, size);
    }

    /// <summary>Where the meta-devices <paramref name="ids"/> of <paramref name="plan"/> lie.</summary>
    /// <exception cref="UnknownDeviceException">The first ID (in the collection's order) that is not a meta-device of
    /// the plan.</exception>
    /// <exception cref="DuplicateDeviceException">An ID occurs twice.</exception>
    public static AllocationShape Describe(ResourcePlan plan, IReadOnlyCollection<string> ids) => Describe(plan, ids, out _);

    /// <summary>
    /// <see cref="Describe(ResourcePlan, IReadOnlyCollection{string})"/>, and where the IDs lie in the plan: their
    /// <see cref="PlanIndex.PositionOf"/>, ascending (one per ID, the same for the same set in any order).
    /// </summary>
    internal static AllocationShape Describe(ResourcePlan plan, IReadOnlyCollection<string> ids, out int[] positions)
    {
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentNullException.ThrowIfNull(ids);
        return Describe(PlanIndex.Of(plan), plan.ResourceName, new StringIds(ids as IReadOnlyList<string> ?? [.. ids]), out positions);
    }

    /// <summary>
    /// <see cref="Describe(ResourcePlan, IReadOnlyCollection{string}, out int[])"/> of IDs however the caller holds
    /// them: the server's come as the UTF-8 bytes of the request (<see cref="KubeletQuery"/>), made text only for an error.
    /// </summary>
    internal static AllocationShape Describe<TIds>(PlanIndex index, string resourceName, TIds ids, out int[] positions) where TIds : struct, IDeviceIds
    {
        var taken = new int[index.Gpus.Length];
        // Each advertised ID has a position of its own, so a repeated ID is a position marked twice: a bit per
        // position, no set of strings.
        var words = index.PositionWords;
        var marked = words <= 256 ? stackalloc ulong[words] : new ulong[words];
        marked.Clear();
        var count = ids.Count;
        for (var i = 0; i < count; i++)
        {
            if (!ids.TryFind(index, i, out var order, out var share))
                throw new UnknownDeviceException(ids.TextOf(i), resourceName);
            if (!index.Mark(marked, order, share))
                throw new DuplicateDeviceException(ids.TextOf(i), resourceName);
            taken[order]++;
        }
        positions = new int[count];
        var at = 0;
        for (var w = 0; w < marked.Length; w++)
        {
            for (var bits = marked[w]; bits != 0; bits &= bits - 1)
                positions[at++] = w * 64 + System.Numerics.BitOperations.TrailingZeroCount(bits);
        }

        var perGpu = new List<GpuShare>();
        for (var order = 0; order < taken.Length; order++)
        {
            if (taken[order] > 0)
                perGpu.Add(new GpuShare(index.Gpus[order], taken[order]));
        }
        var minimum = MinimumGpus(index, count);
        return new AllocationShape(perGpu, count, minimum, perGpu.Count > minimum);
    }

    /// <summary>A request's device IDs as <see cref="Describe{TIds}"/> reads them: by position, each looked up in the plan's index.</summary>
    internal interface IDeviceIds
    {
        int Count { get; }

        bool TryFind(PlanIndex index, int i, out int order, out int share);

        /// <summary>The ID as an error shows it.</summary>
        string TextOf(int i);
    }

    private readonly struct StringIds(IReadOnlyList<string> ids) : IDeviceIds
    {
        public int Count => ids.Count;

        public bool TryFind(PlanIndex index, int i, out int order, out int share) => index.TryFind(ids[i], out order, out share);

        public string TextOf(int i) => ids[i] ?? "";
    }

    /// <summary>The fewest GPUs of <paramref name="plan"/> whose meta-device counts add up to
    /// <paramref name="count"/> (all of them when they cannot).</summary>
    internal static int MinimumGpus(ResourcePlan plan, int count) => MinimumGpus(PlanIndex.Of(plan), count);

    private static int MinimumGpus(PlanIndex index, int count)
    {
        var gpus = 0;
        long held = 0;
        foreach (var n in index.SizesDescending)
        {
            if (held >= count)
                break;
            held += n;
            gpus++;
        }
        return gpus;
    }

    /// <summary>One GPU of the plan during a call: what is available, what must be included, what is taken.</summary>
    private sealed class Slot(PlannedGpu gpu, int order)
    {
        public readonly PlannedGpu Gpu = gpu;

        /// <summary>Position in canonical (GPU index, UUID) order.</summary>
        public readonly int Order = order;

        public readonly bool[] Available = new bool[Math.Max(0, gpu.MetaGpus)];
        public readonly bool[] Must = new bool[Math.Max(0, gpu.MetaGpus)];
        public int AvailableCount;
        public int MustCount;

        /// <summary>How many of the free (available, not must-include) shares the answer takes, lowest first.</summary>
        public int Take;

        public int N => Gpu.MetaGpus;
        public int? Node => Gpu.NumaNode;
        public bool Touched => MustCount > 0;

        /// <summary>Available meta-devices that are not must-include.</summary>
        public int Free => AvailableCount - MustCount;
    }

    private static List<Slot> Slots(PlanIndex index)
    {
        var slots = new List<Slot>(index.Gpus.Length);
        for (var order = 0; order < index.Gpus.Length; order++)
            slots.Add(new Slot(index.Gpus[order], order));
        return slots;
    }

    /// <summary>The answer as plan positions (<see cref="PlanIndex.PositionOf"/>): GPUs in order, shares ascending.</summary>
    private static List<int> EmitMust(PlanIndex index, List<Slot> slots, int size)
    {
        var result = new List<int>(size);
        foreach (var s in slots)
        {
            for (var share = 0; share < s.Must.Length && result.Count < size; share++)
            {
                if (s.Must[share])
                    result.Add(index.PositionOf(s.Order, share));
            }
        }
        return result;
    }

    private static List<int> Emit(PlanIndex index, List<Slot> slots, int count)
    {
        var result = new List<int>(count);
        foreach (var s in slots)
        {
            var taken = 0;
            for (var share = 0; share < s.Available.Length; share++)
            {
                if (s.Must[share])
                {
                    result.Add(index.PositionOf(s.Order, share));
                }
                else if (s.Available[share] && taken < s.Take)
                {
                    result.Add(index.PositionOf(s.Order, share));
                    taken++;
                }
            }
        }
        return result;
    }

    /// <summary>The slots <paramref name="keep"/> picks, in their order.</summary>
    private static List<Slot> Where(List<Slot> slots, Func<Slot, bool> keep)
    {
        var kept = new List<Slot>(slots.Count);
        foreach (var s in slots)
        {
            if (keep(s))
                kept.Add(s);
        }
        return kept;
    }

    /// <summary>Adds each slot's NUMA node to <paramref name="nodes"/> unless it is there (first appearance order).</summary>
    private static void AddNodes(List<int?> nodes, List<Slot> slots)
    {
        foreach (var s in slots)
        {
            if (!nodes.Contains(s.Node))
                nodes.Add(s.Node);
        }
    }

    /// <summary>Sets <see cref="Slot.Take"/> for <paramref name="request"/> meta-devices beyond must-include
    /// (0 &lt; request ≤ the free meta-devices).</summary>
    private static void Place(List<Slot> slots, int request, AllocationPolicyKind policy)
    {
        var touched = Where(slots, static s => s.Touched);
        var touchedNodes = new List<int?>();
        AddNodes(touchedNodes, touched);
        var touchedFree = 0;
        foreach (var s in touched)
            touchedFree += s.Free;

        // 1. It fits on the GPUs must-include already touches.
        if (request <= touchedFree)
        {
            var one = ChooseFraction(touched, request, [], touchedNodes, policy);
            if (one is not null)
                one.Take = request;
            else
                Spill(touched, request, touchedNodes);
            return;
        }

        // 2. Whole GPUs and one fraction.
        if (TryWholeAndFraction(slots, request, touchedNodes, policy))
            return;

        // 3. Spill: all of the touched GPUs, then the largest blocks first and the last part best fit.
        foreach (var s in touched)
            s.Take = s.Free;
        Spill(Where(slots, static s => !s.Touched), request - touchedFree, touchedNodes);
    }

    /// <summary>Free whole GPUs grouped by NUMA node: groups in the order of each node's lowest GPU, GPUs in order.</summary>
    private static List<(int? Node, List<Slot> Gpus)> ByNode(List<Slot> free)
    {
        var groups = new List<(int? Node, List<Slot> Gpus)>();
        foreach (var s in free)
        {
            var found = false;
            foreach (var g in groups)
            {
                if (g.Node == s.Node)
                {
                    g.Gpus.Add(s);
                    found = true;
                    break;
                }
            }
            if (!found)
                groups.Add((s.Node, [s]));
        }
        return groups;
    }

    private static bool TryWholeAndFraction(
        List<Slot> slots, int request, List<int?> touchedNodes, AllocationPolicyKind policy)
    {
        var n = 0;
        foreach (var s in slots)
        {
            if (s.Free > 0 && s.N > n)
                n = s.N;
        }
        var k = request / n;
        var fraction = request % n;
        var free = Where(slots, s => !s.Touched && s.N == n && s.Free == n);
        if (free.Count < k)
            return false;

        List<List<Slot>> options = [];
        if (k == 0)
        {
            options.Add([]);
        }
        else
        {
            var byNode = ByNode(free);
            foreach (var g in byNode)
            {
                if (g.Gpus.Count >= k)
                    options.Add(g.Gpus.GetRange(0, k));
            }
            if (options.Count == 0)
            {
                // No node has enough: fill from the must-include node(s) first, then the biggest nodes (then the
                // node whose first GPU comes first: the order is total, so the sort need not be stable).
                byNode.Sort((a, b) =>
                {
                    var c = touchedNodes.Contains(b.Node).CompareTo(touchedNodes.Contains(a.Node));
                    if (c != 0)
                        return c;
                    c = b.Gpus.Count.CompareTo(a.Gpus.Count);
                    return c != 0 ? c : a.Gpus[0].Order.CompareTo(b.Gpus[0].Order);
                });
                var chosen = new List<Slot>(k);
                foreach (var g in byNode)
                {
                    foreach (var s in g.Gpus)
                    {
                        if (chosen.Count < k)
                            chosen.Add(s);
                    }
                }
                chosen.Sort(static (a, b) => a.Order.CompareTo(b.Order));
                options.Add(chosen);
            }
        }

        List<Slot>? bestWhole = null;
        Slot? bestFraction = null;
        var bestNodes = int.MaxValue;
        foreach (var whole in options)
        {
            var nodes = new List<int?>(touchedNodes);
            AddNodes(nodes, whole);
            Slot? fractionSlot = null;
            if (fraction > 0)
            {
                fractionSlot = ChooseFraction(slots, fraction, whole, nodes, policy);
                if (fractionSlot is null)
                    continue;
                if (!nodes.Contains(fractionSlot.Node))
                    nodes.Add(fractionSlot.Node);
            }
            // Fewest NUMA nodes, then the lowest whole GPUs (options differ in them, so that decides).
            if (bestWhole is null || nodes.Count < bestNodes || (nodes.Count == bestNodes && CompareOrders(whole, bestWhole) < 0))
            {
                bestWhole = whole;
                bestFraction = fractionSlot;
                bestNodes = nodes.Count;
            }
        }
        if (bestWhole is null)
            return false;

        foreach (var s in bestWhole)
            s.Take = s.N;
        if (bestFraction is not null)
            bestFraction.Take = fraction;
        return true;
    }

    /// <summary>Lexicographic comparison of two equally long GPU lists (each in canonical order).</summary>
    private static int CompareOrders(List<Slot> a, List<Slot> b)
    {
        for (var i = 0; i < a.Count && i < b.Count; i++)
        {
            var c = a[i].Order.CompareTo(b[i].Order);
            if (c != 0)
                return c;
        }
        return a.Count.CompareTo(b.Count);
    }

    /// <summary>The one GPU for <paramref name="count"/> meta-devices: touched by must-include first, then by policy,
    /// then on one of <paramref name="nodes"/>, then the lowest index; null when none holds them.</summary>
    private static Slot? ChooseFraction(
        List<Slot> candidates, int count, List<Slot> excluded, List<int?> nodes, AllocationPolicyKind policy)
    {
        Slot? best = null;
        foreach (var s in candidates)
        {
            if (s.Free < count || excluded.Contains(s))
                continue;
            if (best is null || BetterFraction(s, best, nodes, policy))
                best = s;
        }
        return best;
    }

    private static bool BetterFraction(Slot a, Slot b, List<int?> nodes, AllocationPolicyKind policy)
    {
        if (a.Touched != b.Touched)
            return a.Touched;
        if (a.Free != b.Free)
            return policy == AllocationPolicyKind.Spread ? a.Free > b.Free : a.Free < b.Free;
        var aLocal = nodes.Contains(a.Node);
        if (aLocal != nodes.Contains(b.Node))
            return aLocal;
        return a.Order < b.Order;
    }

    /// <summary>Places <paramref name="count"/> meta-devices on <paramref name="pool"/> (which has at least that many
    /// free): the smallest block that holds what remains, else the largest block, and again.</summary>
    private static void Spill(List<Slot> pool, int count, List<int?> touchedNodes)
    {
        var nodes = new List<int?>(touchedNodes);
        while (count > 0)
        {
            Slot? fit = null;
            Slot? largest = null;
            foreach (var s in pool)
            {
                if (s.Take > 0 || s.Free == 0)
                    continue;
                if (s.Free >= count && (fit is null || s.Free < fit.Free || (s.Free == fit.Free && Nearer(s, fit, nodes))))
                    fit = s;
                if (largest is null || s.Free > largest.Free || (s.Free == largest.Free && Nearer(s, largest, nodes)))
                    largest = s;
            }
            if (fit is not null)
            {
                fit.Take = count;
                return;
            }
            if (largest is null)
                throw new InvalidOperationException("allocation request exceeds the free meta-devices");
            largest.Take = largest.Free;
            count -= largest.Free;
            if (!nodes.Contains(largest.Node))
                nodes.Add(largest.Node);
        }
    }

    /// <summary>Tie-break between equally big blocks: on a node of the allocation, then the lower index.</summary>
    private static bool Nearer(Slot a, Slot b, List<int?> nodes)
    {
        var aLocal = nodes.Contains(a.Node);
        if (aLocal != nodes.Contains(b.Node))
            return aLocal;
        return a.Order < b.Order;
    }
}
