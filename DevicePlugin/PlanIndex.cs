using System.Runtime.CompilerServices;

namespace MetaGpu.DevicePlugin;

/// <summary>
/// What every GetPreferredAllocation and Allocate of one plan needs, computed once per plan instead of per call: the
/// plan's GPUs in canonical (index, then UUID) order, every meta-device ID the plugin advertises mapped to its GPU and
/// share, and those ID strings themselves for the answers. Looking an ID up is one hash of the string: no parsing,
/// and an ID spelled any other way than advertised is simply not there.
/// </summary>
internal sealed class PlanIndex
{
    private static readonly ConditionalWeakTable<ResourcePlan, PlanIndex> Cache = new();

    private readonly Dictionary<string, (int Order, int Share)> _ids;

    private PlanIndex(ResourcePlan plan)
    {
        ArgumentNullException.ThrowIfNull(plan.Gpus);
        var ordered = new List<PlannedGpu>(plan.Gpus);
        // Stable, like the OrderBy it replaces: two entries with one index and one UUID (a broken plan) keep their order.
        Primitives.StableSort.Sort(ordered, static (a, b) =>
        {
            var c = a.Index.CompareTo(b.Index);
            return c != 0 ? c : string.CompareOrdinal(a.Uuid, b.Uuid);
        });
        Gpus = [.. ordered];
        Ids = new string[Gpus.Length][];
        var capacity = 0;
        foreach (var g in Gpus)
            capacity += Math.Max(0, g.MetaGpus);
        _ids = new Dictionary<string, (int, int)>(capacity, StringComparer.Ordinal);
        var owners = new HashSet<string>(StringComparer.Ordinal);
        for (var order = 0; order < Gpus.Length; order++)
        {
            var gpu = Gpus[order];
            var ids = new string[Math.Max(0, gpu.MetaGpus)];
            for (var share = 0; share < ids.Length; share++)
                ids[share] = new MetaDeviceId(gpu.Index, share, gpu.Uuid).ToString();
            Ids[order] = ids;
            // A UUID listed twice (a broken plan): its IDs resolve to its lowest-index entry only.
            if (!owners.Add(gpu.Uuid))
                continue;
            for (var share = 0; share < ids.Length; share++)
                _ids.TryAdd(ids[share], (order, share));
        }

        var sizes = new List<int>();
        foreach (var g in Gpus)
        {
            if (g.MetaGpus > 0)
                sizes.Add(g.MetaGpus);
        }
        sizes.Sort(static (a, b) => b.CompareTo(a));
        SizesDescending = [.. sizes];
    }

    /// <summary>The index of <paramref name="plan"/>, built on first use and kept while the plan is.</summary>
    public static PlanIndex Of(ResourcePlan plan)
    {
        ArgumentNullException.ThrowIfNull(plan);
        return Cache.GetValue(plan, static p => new PlanIndex(p));
    }

    /// <summary>The plan's GPUs in canonical order (GPU index, then UUID); a GPU's place here is its order.</summary>
    public PlannedGpu[] Gpus { get; }

    /// <summary>The advertised ID of each GPU's each share, by order and share index.</summary>
    public string[][] Ids { get; }

    /// <summary>The GPUs' meta-device counts, largest first (zero counts left out).</summary>
    public int[] SizesDescending { get; }

    /// <summary>Where an ID lies, when it is one the plugin advertises.</summary>
    public bool TryFind(string? id, out int order, out int share)
    {
        if (id is not null && _ids.TryGetValue(id, out var found))
        {
            (order, share) = found;
            return true;
        }
        order = share = -1;
        return false;
    }
}
