using System.Globalization;
using System.Text;
using CsCheck;
using MetaGpu.DevicePlugin;
using MetaGpu.DevicePlugin.Config;
using static MetaGpu.Tests.DevicePlugin.AllocationTestSupport;

namespace MetaGpu.Tests.DevicePlugin;

/// <summary>
/// Properties of <see cref="AllocationPolicy"/> on random plans and occupancies. CsCheck shrinks a failure and reports
/// the seed that replays it (pass it as <c>seed:</c> to the failing <c>Sample</c>, or set <c>CsCheck_Seed</c>).
/// </summary>
public class AllocationPolicyPropertyTests
{
    /// <summary>One GPU of a random plan: its N, NUMA node, which shares are available and which of those are
    /// must-include.</summary>
    public sealed record GpuSpec(int N, int? Numa, bool[] Available, bool[] Must);

    public sealed record Scenario(GpuSpec[] Gpus, int SizeSeed, AllocationPolicyKind Policy, int ShuffleSeed)
    {
        public ResourcePlan Plan { get; } =
            AllocationTestSupport.Plan(Gpus.Select(g => (g.N, g.Numa)).ToArray());

        private string[]? available;
        private string[]? must;

        public string[] Available => available ??=
            Gpus.SelectMany((g, i) => Shares(g.Available).Select(s => Id(Plan, i, s))).ToArray();

        public string[] Must => must ??= Gpus.SelectMany((g, i) =>
            Shares(g.Available.Zip(g.Must, (a, m) => a && m).ToArray()).Select(s => Id(Plan, i, s))).ToArray();

        /// <summary>Mostly requests up to a GPU or two; sometimes anything up to a little over what is available,
        /// sometimes fewer than the must-include IDs, sometimes 0.</summary>
        public int Size
        {
            get
            {
                var maxN = Gpus.Max(g => g.N);
                var usable = Available.Length;
                var must = Must.Length;
                var r = SizeSeed & 0xFFFFFF;
                return (SizeSeed >>> 24) switch
                {
                    < 120 => must + 1 + r % maxN,
                    < 180 => must + r % (2 * maxN + 1),
                    < 240 => r % (usable + 3),
                    < 250 => r % (must + 1),
                    _ => 0,
                };
            }
        }

        public override string ToString()
        {
            var sb = new StringBuilder().Append(CultureInfo.InvariantCulture, $"{Policy} size={Size}");
            for (var i = 0; i < Gpus.Length; i++)
            {
                var g = Gpus[i];
                sb.Append(CultureInfo.InvariantCulture, $" | GPU{i} N={g.N} numa={g.Numa?.ToString(CultureInfo.InvariantCulture) ?? "-"}");
                sb.Append(CultureInfo.InvariantCulture, $" free=[{Spec(Shares(g.Available).Select(s => Id(Plan, i, s)))}]");
                var must = Shares(g.Available.Zip(g.Must, (a, m) => a && m).ToArray()).ToArray();
                if (must.Length > 0)
                    sb.Append(CultureInfo.InvariantCulture, $" must=[{Spec(must.Select(s => Id(Plan, i, s)))}]");
            }
            return sb.ToString();
        }
    }

    private static IEnumerable<int> Shares(bool[] mask) => Enumerable.Range(0, mask.Length).Where(i => mask[i]);

    private static readonly Gen<int> MetaGpus = Gen.OneOf(1, 2, 10, 100);
    private static readonly Gen<int?> Numa = Gen.OneOf<int?>(0, 1, null);

    /// <summary>Which shares of a GPU are free: all, none, the top ones (lower ones taken first), or any.</summary>
    private static Gen<bool[]> Occupancy(int n) => Gen.Frequency<bool[]>(
        (2, Gen.Const(() => Enumerable.Repeat(true, n).ToArray())),
        (1, Gen.Const(() => new bool[n])),
        (3, Gen.Int[0, n].Select(used => Enumerable.Range(0, n).Select(i => i >= used).ToArray())),
        (3, Gen.Bool.Array[n]));

    /// <summary>Must-include: mostly none, else about one share in eight (of those available).</summary>
    private static Gen<bool[]> MustMask(int n) => Gen.Frequency<bool[]>(
        (6, Gen.Const(() => new bool[n])),
        (1, Gen.Int[0, 7].Array[n].Select(a => a.Select(x => x == 0).ToArray())));

    private static Gen<GpuSpec> Gpu(int n, Gen<bool[]> must) =>
        Gen.Select(Numa, Occupancy(n), must, (numa, available, m) => new GpuSpec(n, numa, available, m));

    private static Gen<GpuSpec[]> Gpus(bool withMust)
    {
        Gen<GpuSpec> OneGpu(int n) => Gpu(n, withMust ? MustMask(n) : Gen.Const(() => new bool[n]));
        return Gen.Frequency<GpuSpec[]>(
            (4, Gen.SelectMany(MetaGpus, Gen.Int[1, 8], (n, count) => OneGpu(n).Array[count])), // one N
            (1, Gen.SelectMany(MetaGpus, n => OneGpu(n)).Array[1, 8]));                                              // mixed N
    }

    private static Gen<Scenario> Scenarios(bool withMust) =>
        Gen.Select(Gpus(withMust), Gen.Int, Gen.OneOf(AllocationPolicyKind.Packed, AllocationPolicyKind.Spread), Gen.Int,
            (gpus, size, policy, shuffle) => new Scenario(gpus, size, policy, shuffle));

    [Fact]
    public void Preferred_KeepsItsInvariants()
    {
        Scenarios(withMust: true).Sample(s =>
        {
            var answer = AllocationPolicy.Preferred(s.Plan, s.Available, s.Must, s.Size, s.Policy);
            AssertInvariants(s.Plan, s.Available, s.Must, s.Size, answer);
            AssertFewestGpus(s.Plan, s.Available, s.Must, s.Size, answer);
        }, iter: 1000, print: s => s.ToString());
    }

    [Fact]
    public void Preferred_IsDeterministic_WhateverTheOrderAndRepetitionOfItsInputs()
    {
        Scenarios(withMust: true).Sample(s =>
        {
            var answer = AllocationPolicy.Preferred(s.Plan, s.Available, s.Must, s.Size, s.Policy);
            var random = new Random(s.ShuffleSeed);
            string[] available = [.. s.Available, .. s.Available.Where(_ => random.Next(4) == 0), "junk"];
            string[] must = [.. s.Must, .. s.Must.Where(_ => random.Next(2) == 0)];
            random.Shuffle(available);
            random.Shuffle(must);
            var gpus = s.Plan.Gpus.ToArray();
            random.Shuffle(gpus);
            var plan = s.Plan with { Gpus = gpus };
            Assert.Equal(answer, AllocationPolicy.Preferred(plan, available, must, s.Size, s.Policy));
            Assert.Equal(answer, AllocationPolicy.Preferred(s.Plan, s.Available, s.Must, s.Size, s.Policy));
        }, iter: 1000, print: s => s.ToString());
    }

    [Fact]
    public void Describe_OfPreferred_DoesNotSpanMoreGpus_WhenOneGpuHoldsTheRequest()
    {
        Scenarios(withMust: false).Sample(s =>
        {
            var answer = AllocationPolicy.Preferred(s.Plan, s.Available, [], s.Size, s.Policy);
            var shape = AllocationPolicy.Describe(s.Plan, answer.ToArray());
            Assert.Equal(answer.Count, shape.Requested);
            Assert.Equal(answer.Count, shape.PerGpu.Sum(g => g.Count));
            Assert.Equal(CountPerGpu(s.Plan, answer).Keys, shape.PerGpu.Select(g => g.Gpu.Index));
            Assert.True(shape.MinimumGpus <= shape.PerGpu.Count);
            Assert.Equal(shape.PerGpu.Count > shape.MinimumGpus, shape.SpansMoreGpusThanNeeded);
            var freest = s.Gpus.Max(g => g.Available.Count(a => a));
            if (answer.Count > 0 && answer.Count <= freest)
            {
                Assert.False(shape.SpansMoreGpusThanNeeded);
                Assert.Single(shape.PerGpu);
            }
        }, iter: 1000, print: s => s.ToString());
    }

    public sealed record Step(int SizeSeed, bool Release, int Which);

    /// <summary>Pods admitted one after another on one node (and sometimes one leaving): every answer keeps the
    /// invariants, and under <see cref="AllocationPolicyKind.Packed"/> a request that fits on one GPU is never
    /// split.</summary>
    [Fact]
    public void SequenceOfAllocations_KeepsInvariants_AndPackedNeverSplitsWhatFitsOneGpu()
    {
        var plans = Gen.Frequency<(int N, int? Numa)[]>(
            (4, Gen.SelectMany(MetaGpus, Gen.Int[1, 8], (n, count) => Numa.Select(numa => (n, numa)).Array[count])),
            (1, Gen.Select(MetaGpus, Numa).Array[1, 8]));
        var steps = Gen.Select(Gen.Int, Gen.Int[0, 4].Select(r => r == 0), Gen.Int[0, 1000],
            (size, release, which) => new Step(size, release, which)).Array[1, 40];
        var policies = Gen.OneOf(AllocationPolicyKind.Packed, AllocationPolicyKind.Spread);

        Gen.Select(plans, steps, policies).Sample((gpus, script, policy) =>
        {
            var plan = Plan(gpus);
            var maxN = gpus.Max(g => g.N);
            var available = new SortedSet<string>(plan.Devices().Select(d => d.ToString()), StringComparer.Ordinal);
            var pods = new List<IReadOnlyList<string>>();
            foreach (var step in script)
            {
                if (step.Release && pods.Count > 0)
                {
                    var pod = pods[step.Which % pods.Count];
                    pods.Remove(pod);
                    available.UnionWith(pod);
                    continue;
                }
                // Mostly fractions of a GPU, sometimes a whole GPU or more.
                var r = step.SizeSeed & 0xFFFF;
                var size = (step.SizeSeed >>> 16) % 4 == 0 ? 1 + r % (3 * maxN) : 1 + r % maxN;
                var answer = AllocationPolicy.Preferred(plan, available, [], size, policy);
                AssertInvariants(plan, available, [], size, answer);
                AssertFewestGpus(plan, available, [], size, answer);

                var freePerGpu = CountPerGpu(plan, available);
                if (policy == AllocationPolicyKind.Packed && freePerGpu.Values.DefaultIfEmpty(0).Max() >= size)
                    Assert.Single(CountPerGpu(plan, answer));

                if (answer.Count == size) // the kubelet admits the pod only when the node has room
                {
                    available.ExceptWith(answer);
                    pods.Add(answer);
                }
            }
        }, iter: 200, print: t => $"{t.Item3} plan=[{string.Join(' ', t.Item1.Select(g => $"{g.N}/{g.Numa?.ToString(CultureInfo.InvariantCulture) ?? "-"}"))}] steps=[{string.Join(' ', t.Item2.Select(s => s.Release ? $"free#{s.Which}" : $"req#{s.SizeSeed}"))}]");
    }

    /// <summary>What every answer must be, from the sets alone.</summary>
    internal static void AssertInvariants(
        ResourcePlan plan, IReadOnlyCollection<string> available, IReadOnlyCollection<string> mustInclude, int size,
        IReadOnlyList<string> answer)
    {
        var planIds = plan.Devices().Select(d => d.ToString()).ToHashSet(StringComparer.Ordinal);
        var usable = available.Where(planIds.Contains).ToHashSet(StringComparer.Ordinal);
        var must = mustInclude.Where(usable.Contains).Distinct(StringComparer.Ordinal)
            .OrderBy(Key).ToList();

        Assert.Equal(size <= 0 ? 0 : Math.Min(size, usable.Count), answer.Count);
        Assert.Equal(answer.Count, answer.Distinct(StringComparer.Ordinal).Count());
        Assert.All(answer, id => Assert.Contains(id, usable));
        Assert.Equal(answer.OrderBy(Key), answer); // canonical order
        if (size > 0 && must.Count > size)
            Assert.Equal(must.Take(size), answer);
        else if (size > 0)
            Assert.Superset(must.ToHashSet(StringComparer.Ordinal), answer.ToHashSet(StringComparer.Ordinal));

        // Within a GPU, the lowest free (not must-include) shares.
        var mustSet = must.ToHashSet(StringComparer.Ordinal);
        foreach (var group in answer.Where(id => !mustSet.Contains(id)).GroupBy(id => Key(id).Gpu))
        {
            var lowest = usable.Where(id => Key(id).Gpu == group.Key && !mustSet.Contains(id))
                .OrderBy(Key).Take(group.Count());
            Assert.Equal(lowest, group);
        }
    }

    /// <summary>
    /// The answer touches the fewest GPUs the rules allow: with T the GPUs must-include touches and R the request
    /// beyond it, only T when R fits their free shares; else k whole GPUs and one fraction GPU (none when a touched GPU
    /// holds the fraction) when k GPUs are completely free and one more GPU holds the fraction — exactly that many
    /// without must-include, which is the minimum; else (spill) T plus the fewest other GPUs whose free shares add up.
    /// </summary>
    internal static void AssertFewestGpus(
        ResourcePlan plan, IReadOnlyCollection<string> available, IReadOnlyCollection<string> mustInclude, int size,
        IReadOnlyList<string> answer)
    {
        var planIds = plan.Devices().Select(d => d.ToString()).ToHashSet(StringComparer.Ordinal);
        var usable = available.Where(planIds.Contains).ToHashSet(StringComparer.Ordinal);
        var must = mustInclude.Where(usable.Contains).ToHashSet(StringComparer.Ordinal);
        if (size <= 0 || size >= usable.Count || must.Count >= size)
            return;

        var touched = CountPerGpu(plan, must).Keys.ToHashSet();
        var free = plan.Gpus.ToDictionary(g => g.Index, g => 0);
        foreach (var id in usable.Where(id => !must.Contains(id)))
            free[Key(id).Gpu]++;
        var answerGpus = CountPerGpu(plan, answer).Count;
        var request = size - must.Count;
        var touchedFree = touched.Sum(g => free[g]);
        Assert.True(answerGpus >= touched.Count);
        if (request <= touchedFree)
        {
            Assert.Equal(touched.Count, answerGpus);
            return;
        }

        var n = plan.Gpus.Where(g => free[g.Index] > 0).Max(g => g.MetaGpus);
        var (k, fraction) = (request / n, request % n);
        var whole = plan.Gpus.Where(g => !touched.Contains(g.Index) && g.MetaGpus == n && free[g.Index] == n)
            .Select(g => g.Index).ToHashSet();
        var fractionOnTouched = fraction > 0 && touched.Any(g => free[g] >= fraction);
        var fractionFits = fraction == 0 || whole.Count > k || free.Any(f => !whole.Contains(f.Key) && f.Value >= fraction);
        if (whole.Count >= k && fractionFits)
        {
            var bound = touched.Count + k + (fraction > 0 && !fractionOnTouched ? 1 : 0);
            if (touched.Count == 0)
                Assert.Equal(bound, answerGpus); // also the lower bound: no GPU has more than n free
            else
                Assert.True(answerGpus <= bound, $"{answerGpus} GPUs, at most {bound} expected");
            return;
        }

        var rest = request - touchedFree;
        var extra = 0;
        foreach (var f in free.Where(f => !touched.Contains(f.Key)).Select(f => f.Value).OrderDescending())
        {
            if (rest <= 0)
                break;
            rest -= f;
            extra++;
        }
        Assert.Equal(touched.Count + extra, answerGpus);
    }
}
