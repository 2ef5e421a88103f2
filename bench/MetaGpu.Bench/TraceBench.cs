using System.Diagnostics;
using System.Globalization;

namespace MetaGpu.Bench;

/// <summary>
/// <c>--trace [--traces N] [--seed S]</c>: allocation quality over random traces of pod arrivals and departures
/// (<see cref="TraceWorkload"/>), replayed with admission by count (<see cref="TraceReplay"/>) under MetaGPU's
/// policies and the baselines (<see cref="TracePolicy.All"/>), the same traces for every policy. Prints, per node, the
/// mean ± standard error over the traces of forced splits and the rest, and BENCH lines. Same seed, same numbers.
/// </summary>
public static class TraceBench
{
    public const int PodsPerTrace = 400;
    public const double OfferedLoad = 0.9;
    public const string Baseline = "best-fit";

    /// <summary>The seed of trace <paramref name="trace"/> of a run with <paramref name="seed"/>.</summary>
    public static int TraceSeed(int seed, int trace) => unchecked(seed * 1_000_003 + trace);

    public static bool Run(int traces, int seed)
    {
        var clock = Stopwatch.StartNew();
        Console.Out.WriteLine($"allocation policy traces: {traces} traces per node, {PodsPerTrace} pods each, offered load {Invariant(OfferedLoad)} " +
            $"of the node's meta-devices, seed {seed}");
        Console.Out.WriteLine("requests (N meta-devices per GPU): 55% N/10..N/2, 15% N/2+1..N-1, 15% N, 10% 2N|3N|4N, 5% N+1..4N-1;");
        Console.Out.WriteLine("arrivals Poisson, lifetimes exponential; admitted when the node's free meta-device count holds the request.");
        Console.Out.WriteLine("forced split: on more GPUs than the fewest whose meta-devices add up to the request (AllocationShape.SpansMoreGpusThanNeeded);");
        Console.Out.WriteLine("avoidable: on more GPUs than the free meta-devices needed when the pod came; NUMA split: on more NUMA nodes than needed.");
        var ok = true;
        foreach (var node in TraceNode.Standard)
            ok &= RunNode(node, traces, seed);
        Console.Out.WriteLine($"({clock.Elapsed.TotalSeconds:F1} s)");
        return ok;
    }

    static bool RunNode(TraceNode node, int traces, int seed)
    {
        var workload = new TraceWorkload(node, PodsPerTrace, OfferedLoad);
        var policies = TracePolicy.All();
        var outcomes = policies.ToDictionary(p => p.Name, _ => new List<TraceOutcome>());
        var admitted = new List<double>();
        for (var t = 0; t < traces; t++)
        {
            var events = workload.Generate(TraceSeed(seed, t));
            foreach (var policy in policies)
                outcomes[policy.Name].Add(TraceReplay.Run(node, events, policy));
            // Admission is by count and every policy hands out exactly the request, so every policy admits the same pods.
            var first = outcomes[policies[0].Name][t];
            foreach (var policy in policies)
            {
                var other = outcomes[policy.Name][t];
                if (!other.Rejected.SequenceEqual(first.Rejected))
                {
                    Console.Out.WriteLine($"trace {t}: {policy.Name} admitted other pods than {first.Policy}");
                    return false;
                }
            }
            admitted.Add(first.Admitted.Count);
        }

        var config = "trace-" + node.Name;
        Console.Out.WriteLine();
        Console.Out.WriteLine($"node {node.Name}: {node.Description}; mean request {Invariant(workload.MeanRequest)}, mean lifetime {Invariant(Math.Round(workload.MeanLifetime, 2))}");
        var admittedStats = MeanWithError.Of(admitted);
        Console.Out.WriteLine($"admitted {admittedStats.Format("F1")} of {PodsPerTrace} pods per trace, the same pods under every policy");
        Figure(config, "admitted_per_trace", admittedStats, "pods", traces, seed);

        var header = $"{"policy",-16} {"forced splits/trace",-20} {"% of admitted",-15} {"avoidable/trace",-16} {"GPUs/pod",-16} {"NUMA splits/trace",-18} {"splits − best fit"}";
        Console.Out.WriteLine(header);
        Console.Out.WriteLine(new string('-', header.Length));
        var baseline = outcomes[Baseline].Select(o => (double)o.Splits).ToList();
        foreach (var policy in policies)
        {
            var runs = outcomes[policy.Name];
            var splits = runs.Select(o => (double)o.Splits).ToList();
            var splitsStats = MeanWithError.Of(splits);
            var percent = MeanWithError.Of(runs.Select(o => o.Admitted.Count == 0 ? 0 : 100.0 * o.Splits / o.Admitted.Count).ToList());
            var avoidable = MeanWithError.Of(runs.Select(o => (double)o.AvoidableSplits).ToList());
            var gpus = MeanWithError.Of(runs.Select(o => o.GpusPerPod).ToList());
            var numa = MeanWithError.Of(runs.Select(o => (double)o.NumaSplits).ToList());
            var versus = MeanWithError.OfDifferences(splits, baseline);
            Console.Out.WriteLine($"{policy.Name,-16} {splitsStats.Format("F2"),-20} {percent.Format("F2"),-15} {avoidable.Format("F2"),-16} " +
                $"{gpus.Format("F3"),-16} {numa.Format("F2"),-18} {(policy.Name == Baseline ? "-" : Signed(versus))}");

            var at = config + "-" + policy.Name;
            Figure(at, "forced_splits_per_trace", splitsStats, "pods", traces, seed);
            Figure(at, "forced_split_pct", percent, "%", traces, seed);
            Figure(at, "avoidable_splits_per_trace", avoidable, "pods", traces, seed);
            Figure(at, "gpus_per_pod", gpus, "GPUs", traces, seed);
            Figure(at, "numa_splits_per_trace", numa, "pods", traces, seed);
            if (policy.Name != Baseline)
                Figure(at, "forced_splits_minus_best_fit", versus, "pods", traces, seed);
        }
        return true;
    }

    static string Signed(MeanWithError m) => (m.Mean >= 0 ? "+" : "") + m.Format("F2");

    static string Invariant(double value) => value.ToString(CultureInfo.InvariantCulture);

    static void Figure(string config, string figure, MeanWithError value, string unit, int traces, int seed) =>
        Console.Out.WriteLine(FormattableString.Invariant(
            $"BENCH {{\"config\":\"{config}\",\"figure\":\"{figure}\",\"value\":{Math.Round(value.Mean, 4)},\"se\":{Math.Round(value.StandardError, 4)},\"unit\":\"{unit}\",\"traces\":{traces},\"seed\":{seed}}}"));
}
