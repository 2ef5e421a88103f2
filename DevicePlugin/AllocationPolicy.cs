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

        var slots = Slots(plan, out var byUuid);
        var usable = 0;
        foreach (var id in available)
        {
            if (TryResolve(id, byUuid, out var slot, out var share) && !slot.Available[share])
            {
                slot.Available[share] = true;
                slot.AvailableCount++;
                usable++;
            }
        }

        var must = 0;
        foreach (var id in mustInclude)
        {
            if (TryResolve(id, byUuid, out var slot, out var share) && slot.Available[share] && !slot.Must[share])
            {
                slot.Must[share] = true;
                slot.MustCount++;
                must++;
            }
        }

        if (size >= usable)
        {
            foreach (var s in slots)
                s.Take = s.Free;
            return Emit(slots, usable);
        }
        if (must >= size)
            return EmitMust(slots, size);

        Place(slots, size - must, policy);
        return Emit(slots, size);
    }

    /// <summary>Where the meta-devices <paramref name="ids"/> of <paramref name="plan"/> lie.</summary>
    /// <exception cref="UnknownDeviceException">The first ID (in the collection's order) that is not a meta-device of
    /// the plan.</exception>
    /// <exception cref="DuplicateDeviceException">An ID occurs twice.</exception>
    public static AllocationShape Describe(ResourcePlan plan, IReadOnlyCollection<string> ids)
    {
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentNullException.ThrowIfNull(ids);

        var slots = Slots(plan, out var byUuid);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var id in ids)
        {
            if (!TryResolve(id, byUuid, out var slot, out _))
                throw new UnknownDeviceException(id ?? "", plan.ResourceName);
            if (!seen.Add(id))
                throw new DuplicateDeviceException(id, plan.ResourceName);
            slot.Take++;
        }

        var perGpu = new List<GpuShare>();
        foreach (var s in slots)
        {
            if (s.Take > 0)
                perGpu.Add(new GpuShare(s.Gpu, s.Take));
        }
        var minimum = MinimumGpus(plan, ids.Count);
        return new AllocationShape(perGpu, ids.Count, minimum, perGpu.Count > minimum);
    }

    /// <summary>The fewest GPUs of <paramref name="plan"/> whose meta-device counts add up to
    /// <paramref name="count"/> (all of them when they cannot).</summary>
    internal static int MinimumGpus(ResourcePlan plan, int count)
    {
        var sizes = plan.Gpus.Select(g => g.MetaGpus).Where(n => n > 0).OrderDescending().ToList();
        var gpus = 0;
        long held = 0;
        foreach (var n in sizes)
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

    private static List<Slot> Slots(ResourcePlan plan, out Dictionary<string, Slot> byUuid)
    {
        ArgumentNullException.ThrowIfNull(plan.Gpus);
        var ordered = plan.Gpus
            .OrderBy(g => g.Index)
            .ThenBy(g => g.Uuid, StringComparer.Ordinal)
            .ToList();
        var slots = new List<Slot>(ordered.Count);
        byUuid = new Dictionary<string, Slot>(ordered.Count, StringComparer.Ordinal);
        foreach (var gpu in ordered)
        {
            var slot = new Slot(gpu, slots.Count);
            slots.Add(slot);
            byUuid.TryAdd(gpu.Uuid, slot); // a UUID listed twice (a broken plan): its lowest-index entry
        }
        return slots;
    }

    private static bool TryResolve(string? id, Dictionary<string, Slot> byUuid, out Slot slot, out int share)
    {
        slot = null!;
        share = -1;
        if (!MetaDeviceId.TryParse(id, out var parsed)
            || !byUuid.TryGetValue(parsed.Value.GpuUuid, out var found)
            || parsed.Value.GpuIndex != found.Gpu.Index
            || parsed.Value.ShareIndex >= found.N
            || !string.Equals(parsed.Value.ToString(), id, StringComparison.Ordinal))
            return false;
        slot = found;
        share = parsed.Value.ShareIndex;
        return true;
    }

    private static List<string> EmitMust(List<Slot> slots, int size)
    {
        var result = new List<string>(size);
        foreach (var s in slots)
        {
            for (var share = 0; share < s.Must.Length && result.Count < size; share++)
            {
                if (s.Must[share])
                    result.Add(Id(s, share));
            }
        }
        return result;
    }

    private static List<string> Emit(List<Slot> slots, int count)
    {
        var result = new List<string>(count);
        foreach (var s in slots)
        {
            var taken = 0;
            for (var share = 0; share < s.Available.Length; share++)
            {
                if (s.Must[share])
                {
                    result.Add(Id(s, share));
                }
                else if (s.Available[share] && taken < s.Take)
                {
                    result.Add(Id(s, share));
                    taken++;
                }
            }
        }
        return result;
    }

    private static string Id(Slot s, int share) => new MetaDeviceId(s.Gpu.Index, share, s.Gpu.Uuid).ToString();

    /// <summary>Sets <see cref="Slot.Take"/> for <paramref name="request"/> meta-devices beyond must-include
    /// (0 &lt; request ≤ the free meta-devices).</summary>
    private static void Place(List<Slot> slots, int request, AllocationPolicyKind policy)
    {
        var touched = slots.Where(s => s.Touched).ToList();
        var touchedNodes = touched.Select(s => s.Node).Distinct().ToList();
        var touchedFree = touched.Sum(s => s.Free);

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
        Spill(slots.Where(s => !s.Touched).ToList(), request - touchedFree, touchedNodes);
    }

    private static bool TryWholeAndFraction(
        List<Slot> slots, int request, List<int?> touchedNodes, AllocationPolicyKind policy)
    {
        var n = slots.Where(s => s.Free > 0).Max(s => s.N);
        var k = request / n;
        var fraction = request % n;
        var free = slots.Where(s => !s.Touched && s.N == n && s.Free == n).ToList();
        if (free.Count < k)
            return false;

        List<List<Slot>> options;
        if (k == 0)
        {
            options = [[]];
        }
        else
        {
            var byNode = free.GroupBy(s => s.Node).ToList(); // in order of each node's lowest index
            options = byNode.Where(g => g.Count() >= k).Select(g => g.Take(k).ToList()).ToList();
            if (options.Count == 0)
            {
                // No node has enough: fill from the must-include node(s) first, then the biggest nodes.
                options =
                [
                    byNode
                        .OrderByDescending(g => touchedNodes.Contains(g.Key))
                        .ThenByDescending(g => g.Count())
                        .ThenBy(g => g.First().Order)
                        .SelectMany(g => g)
                        .Take(k)
                        .OrderBy(s => s.Order)
                        .ToList(),
                ];
            }
        }

        List<Slot>? bestWhole = null;
        Slot? bestFraction = null;
        var bestNodes = int.MaxValue;
        foreach (var whole in options)
        {
            var nodes = touchedNodes.Concat(whole.Select(s => s.Node)).Distinct().ToList();
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
