using MetaGpu.DevicePlugin;
using MetaGpu.DevicePlugin.Config;

namespace MetaGpu.Bench;

/// <summary>Which meta-devices of a trace node are free as a replay goes, with each one's ID as the plugin
/// advertises it. GPUs are numbered by their position in the plan (which is their index).</summary>
public sealed class TraceNodeState
{
    private readonly bool[][] free;
    private readonly int[] freeCount;
    private readonly string[][] ids;
    private readonly Dictionary<string, (int Gpu, int Share)> byId = new(StringComparer.Ordinal);

    public TraceNodeState(TraceNode node)
    {
        Node = node;
        var gpus = node.Plan.Gpus;
        free = gpus.Select(g => Enumerable.Repeat(true, g.MetaGpus).ToArray()).ToArray();
        freeCount = gpus.Select(g => g.MetaGpus).ToArray();
        ids = gpus.Select(g => g.Devices().Select(d => d.ToString()).ToArray()).ToArray();
        for (var gpu = 0; gpu < ids.Length; gpu++)
        {
            for (var share = 0; share < ids[gpu].Length; share++)
                byId.Add(ids[gpu][share], (gpu, share));
        }
        FreeTotal = freeCount.Sum();
    }

    public TraceNode Node { get; }

    public int Gpus => free.Length;

    public int FreeTotal { get; private set; }

    /// <summary>Free meta-devices per GPU.</summary>
    public ReadOnlySpan<int> FreeCounts => freeCount;

    public string Id(int gpu, int share) => ids[gpu][share];

    public (int Gpu, int Share) Locate(string id) =>
        byId.TryGetValue(id, out var at) ? at : throw new InvalidOperationException($"not a meta-device of the node: {id}");

    /// <summary>Every free ID, GPU by GPU: what the kubelet passes as <c>available</c>.</summary>
    public List<string> FreeIds()
    {
        var result = new List<string>(FreeTotal);
        for (var gpu = 0; gpu < free.Length; gpu++)
        {
            for (var share = 0; share < free[gpu].Length; share++)
            {
                if (free[gpu][share])
                    result.Add(ids[gpu][share]);
            }
        }
        return result;
    }

    /// <summary>The <paramref name="count"/> lowest free shares of <paramref name="gpu"/>.</summary>
    public IEnumerable<(int Gpu, int Share)> LowestFree(int gpu, int count)
    {
        for (var share = 0; share < free[gpu].Length && count > 0; share++)
        {
            if (free[gpu][share])
            {
                count--;
                yield return (gpu, share);
            }
        }
    }

    public void Take(IEnumerable<(int Gpu, int Share)> shares) => Set(shares, taken: true);

    public void Release(IEnumerable<(int Gpu, int Share)> shares) => Set(shares, taken: false);

    private void Set(IEnumerable<(int Gpu, int Share)> shares, bool taken)
    {
        foreach (var (gpu, share) in shares)
        {
            if (free[gpu][share] != taken)
                throw new InvalidOperationException($"GPU {gpu} share {share} is already {(taken ? "taken" : "free")}");
            free[gpu][share] = !taken;
            freeCount[gpu] += taken ? -1 : 1;
            FreeTotal += taken ? -1 : 1;
        }
    }
}

/// <summary>How a replay picks the meta-devices of an admitted pod.</summary>
public abstract class TracePolicy(string name)
{
    public string Name { get; } = name;

    /// <summary><paramref name="size"/> free meta-devices for a pod (the node has at least that many free).</summary>
    public abstract IReadOnlyList<(int Gpu, int Share)> Choose(TraceNodeState state, int size);

    /// <summary>MetaGPU's packed and spread policies, then the baselines.</summary>
    public static TracePolicy[] All() =>
    [
        new MetaGpuPolicy(AllocationPolicyKind.Packed),
        new MetaGpuPolicy(AllocationPolicyKind.Spread),
        new CountPolicy("best-fit", CountPolicy.BestFit),
        new CountPolicy("first-fit", CountPolicy.FirstFit),
        new CountPolicy("most-free", CountPolicy.MostFree),
    ];
}

/// <summary>The plugin's answer: <see cref="AllocationPolicy.Preferred"/> with every free ID available and nothing
/// must-include, as the kubelet asks for a new container.</summary>
public sealed class MetaGpuPolicy(AllocationPolicyKind kind) : TracePolicy("metagpu-" + kind.ToString().ToLowerInvariant())
{
    public override IReadOnlyList<(int Gpu, int Share)> Choose(TraceNodeState state, int size) =>
        AllocationPolicy.Preferred(state.Node.Plan, state.FreeIds(), [], size, kind).Select(state.Locate).ToList();
}

/// <summary>
/// A baseline that decides only how many meta-devices each GPU gives (the lowest free shares there); it knows nothing
/// of NUMA. Each placement function gets the free counts per GPU and a request no bigger than their sum, and returns
/// how many to take from each GPU.
/// </summary>
public sealed class CountPolicy(string name, Func<int[], int, int[]> place) : TracePolicy(name)
{
    public override IReadOnlyList<(int Gpu, int Share)> Choose(TraceNodeState state, int size)
    {
        var counts = place(state.FreeCounts.ToArray(), size);
        return counts.SelectMany((count, gpu) => state.LowestFree(gpu, count)).ToList();
    }

    /// <summary>Best fit: the GPU with the fewest free that holds what remains (lowest index on a tie); when none
    /// holds it, the GPU with the most free gives all it has, and again.</summary>
    public static int[] BestFit(int[] free, int size) => Repeat(free, size, (rest, left) =>
        Pick(rest, f => f >= left, (a, b) => a < b) ?? Pick(rest, f => f > 0, (a, b) => a > b)!.Value);

    /// <summary>First fit: the lowest-index GPU that holds the request; when none does, GPU after GPU in index order
    /// from the lowest with room, each giving what it has until the request is met.</summary>
    public static int[] FirstFit(int[] free, int size)
    {
        var one = Pick(free, f => f >= size, (_, _) => false);
        if (one is { } gpu)
        {
            var counts = new int[free.Length];
            counts[gpu] = size;
            return counts;
        }
        return Repeat(free, size, (rest, _) => Pick(rest, f => f > 0, (_, _) => false)!.Value);
    }

    /// <summary>Most free (plain spread): the GPU with the most free gives what remains or all it has, and
    /// again.</summary>
    public static int[] MostFree(int[] free, int size) => Repeat(free, size, (rest, _) => Pick(rest, f => f > 0, (a, b) => a > b)!.Value);

    /// <summary>Takes from the GPU <paramref name="next"/> names (given what is still free and what is left of the
    /// request) until the request is met.</summary>
    private static int[] Repeat(int[] free, int size, Func<int[], int, int> next)
    {
        var rest = (int[])free.Clone();
        var counts = new int[free.Length];
        while (size > 0)
        {
            var gpu = next(rest, size);
            var take = Math.Min(rest[gpu], size);
            counts[gpu] += take;
            rest[gpu] -= take;
            size -= take;
        }
        return counts;
    }

    /// <summary>The first GPU (lowest index) meeting <paramref name="eligible"/> that no later one beats by
    /// <paramref name="better"/>; null when none is eligible.</summary>
    private static int? Pick(int[] free, Func<int, bool> eligible, Func<int, int, bool> better)
    {
        int? best = null;
        for (var gpu = 0; gpu < free.Length; gpu++)
        {
            if (eligible(free[gpu]) && (best is null || better(free[gpu], free[best.Value])))
                best = gpu;
        }
        return best;
    }
}
