using System.Globalization;
using System.Text;
using CsCheck;
using MetaGpu.DevicePlugin;
using MetaGpu.DevicePlugin.Config;

namespace MetaGpu.Tests.DevicePlugin;

/// <summary>
/// <see cref="AllocationPolicy.Preferred"/> answers from the plan and the SETS of IDs alone. The plans here are made to
/// hit every tie-break: GPUs with equal free counts (so the spill's largest-first and best-fit steps and the fraction's
/// choice meet ties), up to four NUMA nodes, mixed meta-device counts, GPU indexes with gaps, UUIDs whose order is not
/// the index order, and now and then two GPUs under one index. Each scenario is asked in canonical order and again with
/// <c>available</c> and <c>mustInclude</c> reversed, shuffled, with repeats and foreign IDs, and the plan's GPUs
/// shuffled; every answer must be the same list.
/// </summary>
public class AllocationPolicyDeterminismTests
{
    /// <summary>One GPU: its index, a UUID (random <see cref="UuidBits"/> first, so that UUID order is not index
    /// order, and the GPU's position in the plan last, so that UUIDs differ), its N and NUMA node, which shares are
    /// available and which of those are must-include.</summary>
    public sealed record GpuSpec(int Index, int Position, uint UuidBits, int N, int? Numa, bool[] Available, bool[] Must)
    {
        public string Uuid => string.Create(CultureInfo.InvariantCulture, $"GPU-{UuidBits:x8}-0000-4000-8000-{Position:x12}");
    }

    public sealed record Scenario(GpuSpec[] Gpus, int SizeSeed, AllocationPolicyKind Policy, int ShuffleSeed)
    {
        public ResourcePlan Plan { get; } = new(AllocationTestSupport.Resource,
            Gpus.Select(g => new PlannedGpu(g.Uuid, g.Index, g.N, g.Numa, 80UL << 30)).ToList());

        public string[] Available { get; } = Gpus.SelectMany(g => Ids(g, g.Available)).Order(StringComparer.Ordinal).ToArray();

        public string[] Must { get; } = Gpus.SelectMany(g => Ids(g, g.Available.Zip(g.Must, (a, m) => a && m).ToArray()))
            .Order(StringComparer.Ordinal).ToArray();

        /// <summary>Mostly more than one GPU holds (the spill and whole-plus-fraction paths), often a fraction,
        /// sometimes anything up to a little over what is available.</summary>
        public int Size
        {
            get
            {
                var maxN = Gpus.Max(g => g.N);
                var r = SizeSeed & 0xFFFFFF;
                return (SizeSeed >>> 24) switch
                {
                    < 110 => Must.Length + maxN + 1 + r % (3 * maxN),
                    < 200 => Must.Length + 1 + r % maxN,
                    _ => r % (Available.Length + 3),
                };
            }
        }

        public override string ToString()
        {
            var sb = new StringBuilder().Append(CultureInfo.InvariantCulture, $"{Policy} size={Size} shuffle={ShuffleSeed}");
            foreach (var g in Gpus)
            {
                sb.Append(CultureInfo.InvariantCulture,
                    $" | GPU{g.Index} {g.Uuid[..12]} N={g.N} numa={g.Numa?.ToString(CultureInfo.InvariantCulture) ?? "-"}");
                sb.Append(CultureInfo.InvariantCulture, $" free={Ranges(g.Available)}");
                var must = g.Available.Zip(g.Must, (a, m) => a && m).ToArray();
                if (must.Any(m => m))
                    sb.Append(CultureInfo.InvariantCulture, $" must={Ranges(must)}");
            }
            return sb.ToString();
        }
    }

    private static IEnumerable<string> Ids(GpuSpec g, bool[] mask) =>
        Enumerable.Range(0, mask.Length).Where(s => mask[s]).Select(s => new MetaDeviceId(g.Index, s, g.Uuid).ToString());

    private static string Ranges(bool[] mask)
    {
        var parts = new List<string>();
        for (var s = 0; s < mask.Length; s++)
        {
            if (!mask[s])
                continue;
            var from = s;
            while (s + 1 < mask.Length && mask[s + 1])
                s++;
            parts.Add(from == s ? $"{from}" : $"{from}-{s}");
        }
        return "[" + string.Join(',', parts) + "]";
    }

    private static readonly Gen<int> MetaGpus = Gen.OneOf(1, 2, 10, 100);
    private static readonly Gen<int?> Numa = Gen.OneOf<int?>(0, 1, 2, 3, null);

    /// <summary>Free shares of a GPU. Most GPUs get one of a few free counts, so that GPUs tie on it; those shares are
    /// the top ones or scattered.</summary>
    private static Gen<bool[]> Occupancy(int n) => Gen.Frequency<bool[]>(
        (3, Gen.Const(() => Enumerable.Repeat(true, n).ToArray())),
        (1, Gen.Const(() => new bool[n])),
        (5, Gen.Select(Gen.OneOf(2, 3, 5, 10), Gen.Bool, Gen.Int, (div, top, seed) =>
        {
            var free = Math.Max(1, n / div);
            var mask = Enumerable.Range(0, n).Select(i => i >= n - free).ToArray();
            if (!top)
                new Random(seed).Shuffle(mask);
            return mask;
        })),
        (2, Gen.Bool.Array[n]));

    /// <summary>Must-include: on about one GPU in four, about one share in six there.</summary>
    private static Gen<bool[]> MustMask(int n) => Gen.Frequency<bool[]>(
        (3, Gen.Const(() => new bool[n])),
        (1, Gen.Int[0, 5].Array[n].Select(a => a.Select(x => x == 0).ToArray())));

    private static Gen<GpuSpec> Gpu(Gen<int> n) =>
        Gen.SelectMany(n, size => Gen.Select(Gen.UInt, Numa, Occupancy(size), MustMask(size),
            (uuid, numa, available, must) => new GpuSpec(0, 0, uuid, size, numa, available, must)));

    /// <summary>1 to 10 GPUs, mostly of one N; indexes 0, 1, 2, … or with gaps, sometimes one index twice.</summary>
    private static readonly Gen<GpuSpec[]> Gpus =
        Gen.Select(
            Gen.Frequency<GpuSpec[]>(
                (3, Gen.SelectMany(MetaGpus, Gen.Int[1, 10], (n, count) => Gpu(Gen.Const(n)).Array[count])),
                (1, Gpu(MetaGpus).Array[1, 10])),
            Gen.Int[0, 3].Array[10],
            (gpus, steps) =>
            {
                var index = steps[0];
                for (var i = 0; i < gpus.Length; i++)
                {
                    // The next index: mostly +1, +2 now and then, the same index again (another UUID) rarely.
                    if (i > 0)
                        index += steps[i] switch { 0 => i % 3 == 0 ? 0 : 1, 3 => 2, _ => 1 };
                    gpus[i] = gpus[i] with { Index = index, Position = i };
                }
                return gpus;
            });

    private static readonly Gen<Scenario> Scenarios =
        Gen.Select(Gpus, Gen.Int, Gen.OneOf(AllocationPolicyKind.Packed, AllocationPolicyKind.Spread), Gen.Int,
            (gpus, size, policy, shuffle) => new Scenario(gpus, size, policy, shuffle));

    /// <summary>Which rule of the policy a scenario reaches, from the sets alone (the conditions of the policy's
    /// remarks), so that the test can show it reached the spill path and the ties in it.</summary>
    private enum Path { Trivial, TouchedGpus, WholeAndFraction, Spill }

    private static (Path Path, bool Tie) Classify(Scenario s)
    {
        var size = s.Size;
        var free = new Dictionary<GpuSpec, int>();
        var must = 0;
        var touched = new List<GpuSpec>();
        foreach (var g in s.Gpus)
        {
            var m = g.Available.Zip(g.Must, (a, x) => a && x).Count(x => x);
            free[g] = g.Available.Count(a => a) - m;
            must += m;
            if (m > 0)
                touched.Add(g);
        }
        if (size <= 0 || size >= s.Available.Length || must >= size)
            return (Path.Trivial, false);
        var request = size - must;
        if (request <= touched.Sum(g => free[g]))
            return (Path.TouchedGpus, false);

        var n = s.Gpus.Where(g => free[g] > 0).Max(g => g.N);
        var (k, fraction) = (request / n, request % n);
        var whole = s.Gpus.Where(g => !touched.Contains(g) && g.N == n && free[g] == n).ToList();
        var fractionFits = fraction == 0 || whole.Count > k || s.Gpus.Any(g => !whole.Contains(g) && free[g] >= fraction);
        if (whole.Count >= k && fractionFits)
            return (Path.WholeAndFraction, false);
        var counts = s.Gpus.Where(g => !touched.Contains(g) && free[g] > 0).Select(g => free[g]).ToList();
        return (Path.Spill, counts.Count != counts.Distinct().Count());
    }

    [Fact]
    public void Preferred_DependsOnlyOnThePlanAndTheSetsOfIds()
    {
        var reached = new int[4];
        var spillTies = 0;
        Scenarios.Sample(s =>
        {
            var (path, tie) = Classify(s);
            Interlocked.Increment(ref reached[(int)path]);
            if (tie)
                Interlocked.Increment(ref spillTies);

            var expected = AllocationPolicy.Preferred(s.Plan, s.Available, s.Must, s.Size, s.Policy);
            var random = new Random(s.ShuffleSeed);
            foreach (var (available, must, plan) in Variants(s, random))
                Assert.Equal(expected, AllocationPolicy.Preferred(plan, available, must, s.Size, s.Policy));
        }, iter: 3000, print: s => s.ToString());

        // The samples went where the ties are: every path, and spills among equally big blocks.
        Assert.All(reached, count => Assert.True(count >= 90, $"paths reached: {string.Join(", ", reached)}"));
        Assert.True(spillTies >= 150, $"{spillTies} spills with equally big blocks");
    }

    /// <summary>The same sets (and the same plan) written differently.</summary>
    private static IEnumerable<(string[] Available, string[] Must, ResourcePlan Plan)> Variants(Scenario s, Random random)
    {
        var reversedAvailable = s.Available.Reverse().ToArray();
        var reversedMust = s.Must.Reverse().ToArray();
        yield return (reversedAvailable, reversedMust, s.Plan);

        var reversedPlan = s.Plan with { Gpus = s.Plan.Gpus.Reverse().ToList() };
        yield return (s.Available, s.Must, reversedPlan);

        for (var i = 0; i < 3; i++)
        {
            // Shuffled, some IDs repeated, foreign and malformed IDs mixed in (they are ignored), must-include IDs that
            // are not available (ignored too), and the plan's GPUs in another order.
            string[] available =
            [
                .. s.Available, .. s.Available.Where(_ => random.Next(5) == 0),
                "junk", new MetaDeviceId(99, 0, "GPU-not-in-the-plan").ToString(),
            ];
            var notAvailable = s.Gpus.SelectMany(g => Ids(g, g.Available.Select(a => !a).ToArray())).Take(2);
            string[] must = [.. s.Must, .. s.Must.Where(_ => random.Next(2) == 0), .. notAvailable];
            random.Shuffle(available);
            random.Shuffle(must);
            var gpus = s.Plan.Gpus.ToArray();
            random.Shuffle(gpus);
            yield return (available, must, s.Plan with { Gpus = gpus });
        }
    }
}
