using System.Globalization;
using System.Text;
using MetaGpu.DevicePlugin;

namespace MetaGpu.Tests.DevicePlugin;

/// <summary>
/// Plans and ID sets for the allocation tests, written as short specs: <c>"0:30-99 1:0-9 1:20"</c> is shares 30..99 of
/// the GPU with index 0, shares 0..9 and 20 of GPU 1 (ranges inclusive).
/// </summary>
internal static class AllocationTestSupport
{
    public const string Resource = "cnvrg.io/metagpu";

    public static string Uuid(int index) =>
        string.Create(CultureInfo.InvariantCulture, $"GPU-{index:x8}-7d1c-4a9e-b1f0-{index * 7919:x12}");

    /// <summary>GPU i of the plan has index i, <c>N</c> meta-devices and NUMA node <c>Numa</c>.</summary>
    public static ResourcePlan Plan(params (int N, int? Numa)[] gpus) =>
        new(Resource, gpus.Select((g, i) => new PlannedGpu(Uuid(i), i, g.N, g.Numa, 80UL << 30)).ToList());

    public static ResourcePlan Plan(int count, int n = 100) =>
        Plan(Enumerable.Repeat((n, (int?)0), count).ToArray());

    public static string Id(ResourcePlan plan, int gpuIndex, int share) =>
        new MetaDeviceId(gpuIndex, share, plan.Gpus.Single(g => g.Index == gpuIndex).Uuid).ToString();

    /// <summary>The IDs of a spec, in the spec's order.</summary>
    public static string[] Ids(ResourcePlan plan, string spec)
    {
        var ids = new List<string>();
        foreach (var part in spec.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            var colon = part.IndexOf(':', StringComparison.Ordinal);
            var gpu = int.Parse(part[..colon], CultureInfo.InvariantCulture);
            var range = part[(colon + 1)..].Split('-');
            var from = int.Parse(range[0], CultureInfo.InvariantCulture);
            var to = range.Length > 1 ? int.Parse(range[1], CultureInfo.InvariantCulture) : from;
            for (var share = from; share <= to; share++)
                ids.Add(Id(plan, gpu, share));
        }
        return [.. ids];
    }

    /// <summary>The spec of IDs of the plan, with runs of consecutive shares as ranges, in the IDs' order.</summary>
    public static string Spec(IEnumerable<string> ids)
    {
        var sb = new StringBuilder();
        int gpu = -1, from = -1, to = -1;
        void Flush()
        {
            if (gpu < 0)
                return;
            if (sb.Length > 0)
                sb.Append(' ');
            sb.Append(CultureInfo.InvariantCulture, $"{gpu}:{from}");
            if (to != from)
                sb.Append(CultureInfo.InvariantCulture, $"-{to}");
        }
        foreach (var id in ids)
        {
            Assert.True(MetaDeviceId.TryParse(id, out var parsed), $"not a meta-device ID: {id}");
            var (g, s) = (parsed.Value.GpuIndex, parsed.Value.ShareIndex);
            if (g == gpu && s == to + 1)
            {
                to = s;
                continue;
            }
            Flush();
            (gpu, from, to) = (g, s, s);
        }
        Flush();
        return sb.ToString();
    }

    /// <summary>GPU index → how many of the IDs are on it (the physical GPU is taken from the UUID).</summary>
    public static SortedDictionary<int, int> CountPerGpu(ResourcePlan plan, IEnumerable<string> ids)
    {
        var counts = new SortedDictionary<int, int>();
        foreach (var id in ids)
        {
            Assert.True(MetaDeviceId.TryParse(id, out var parsed));
            var gpu = plan.FindGpu(parsed.Value.GpuUuid);
            Assert.NotNull(gpu);
            counts[gpu.Index] = counts.GetValueOrDefault(gpu.Index) + 1;
        }
        return counts;
    }

    /// <summary>(GPU index, share index) of a plan's ID; the ID must be one the plan advertises.</summary>
    public static (int Gpu, int Share) Key(string id)
    {
        Assert.True(MetaDeviceId.TryParse(id, out var parsed));
        return (parsed.Value.GpuIndex, parsed.Value.ShareIndex);
    }
}
