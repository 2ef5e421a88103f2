using System.Globalization;
using MetaGpu.DevicePlugin;

namespace MetaGpu.Bench;

/// <summary>A node of the trace mode: one resource's GPUs, each split into <c>N</c> meta-devices.</summary>
public sealed record TraceNode(string Name, string Description, ResourcePlan Plan)
{
    public int MetaGpus => Plan.Gpus[0].MetaGpus;

    public int Capacity => Plan.Gpus.Sum(g => g.MetaGpus);

    /// <summary><paramref name="numaOfGpu"/>.Length GPUs of <paramref name="n"/> meta-devices; GPU i has index i and
    /// NUMA node <paramref name="numaOfGpu"/>[i].</summary>
    public static TraceNode Of(string name, string description, int n, params int?[] numaOfGpu)
    {
        var gpus = numaOfGpu.Select((numa, i) => new PlannedGpu(
            string.Create(CultureInfo.InvariantCulture, $"GPU-{i:x8}-5eed-4a9e-b1f0-{i * 7919:x12}"), i, n, numa, 80UL << 30)).ToList();
        return new TraceNode(name, description, new ResourcePlan("cnvrg.io/metagpu", gpus));
    }

    /// <summary>The nodes the trace mode replays on.</summary>
    public static readonly TraceNode[] Standard =
    [
        Of("8x100", "8 GPUs x 100 meta-devices, NUMA node 0: GPUs 0-3, node 1: GPUs 4-7", 100, 0, 0, 0, 0, 1, 1, 1, 1),
        Of("4x10", "4 GPUs x 10 meta-devices (tenths), no NUMA information", 10, null, null, null, null),
    ];
}

/// <summary>One pod of a trace: it asks for <see cref="Size"/> meta-devices at <see cref="Arrival"/> and, when it
/// was admitted, leaves at <see cref="Departure"/>.</summary>
public sealed record TracePod(int Id, int Size, double Arrival, double Departure);

/// <summary>An arrival or a departure, in time order.</summary>
public readonly record struct TraceEvent(double Time, TracePod Pod, bool Arrives);

/// <summary>
/// Random pod arrivals and departures for a node. Arrivals are a Poisson process (one per time unit on average),
/// lifetimes are exponential with a mean that makes the offered load (arrival rate × mean lifetime × mean request)
/// <see cref="Load"/> times the node's meta-devices, so the node is often nearly full and some pods are turned away.
/// </summary>
public sealed class TraceWorkload(TraceNode node, int pods, double load)
{
    /// <summary>One kind of request: uniform over <c>From, From + Step, …, To</c>.</summary>
    public readonly record struct RequestKind(int Weight, int From, int To, int Step)
    {
        public double Mean => (From + To) / 2.0;

        public int Draw(Random random) => From + Step * random.Next((To - From) / Step + 1);
    }

    public TraceNode Node { get; } = node;

    public int Pods { get; } = pods;

    public double Load { get; } = load;

    /// <summary>
    /// The request mix for N meta-devices per GPU, in weights out of 100: many small fractions (N/10 to N/2), some
    /// large fractions, whole GPUs, two to four whole GPUs, and a few multi-GPU requests with a fraction (for N = 100:
    /// 10-50, 51-99, 100, 200/300/400, 101-399).
    /// </summary>
    public IReadOnlyList<RequestKind> Mix { get; } = RequestMix(node.MetaGpus);

    public static IReadOnlyList<RequestKind> RequestMix(int n)
    {
        if (n < 10)
            throw new ArgumentOutOfRangeException(nameof(n), n, "the request mix needs at least 10 meta-devices per GPU");
        return
        [
            new(55, (n + 9) / 10, n / 2, 1),
            new(15, n / 2 + 1, n - 1, 1),
            new(15, n, n, 1),
            new(10, 2 * n, 4 * n, n),
            new(5, n + 1, 4 * n - 1, 1),
        ];
    }

    public double MeanRequest => Mix.Sum(k => k.Weight * k.Mean) / Mix.Sum(k => k.Weight);

    /// <summary>Mean lifetime for the offered load (arrivals come at rate 1).</summary>
    public double MeanLifetime => Load * Node.Capacity / MeanRequest;

    public int DrawSize(Random random)
    {
        var pick = random.Next(Mix.Sum(k => k.Weight));
        foreach (var kind in Mix)
        {
            if (pick < kind.Weight)
                return kind.Draw(random);
            pick -= kind.Weight;
        }
        throw new InvalidOperationException("unreachable: the weights add up");
    }

    /// <summary>The trace for <paramref name="seed"/>: the same seed gives the same trace.</summary>
    public IReadOnlyList<TraceEvent> Generate(int seed)
    {
        var random = new Random(seed);
        var events = new List<TraceEvent>(2 * Pods);
        var time = 0.0;
        for (var id = 0; id < Pods; id++)
        {
            time += Exponential(random, 1.0);
            var size = DrawSize(random);
            var pod = new TracePod(id, size, time, time + Exponential(random, MeanLifetime));
            events.Add(new TraceEvent(pod.Arrival, pod, Arrives: true));
            events.Add(new TraceEvent(pod.Departure, pod, Arrives: false));
        }
        // Times are distinct almost surely; a tie is settled by the pod ID, then arrival before departure.
        events.Sort((a, b) =>
            a.Time != b.Time ? a.Time.CompareTo(b.Time)
            : a.Pod.Id != b.Pod.Id ? a.Pod.Id.CompareTo(b.Pod.Id)
            : b.Arrives.CompareTo(a.Arrives));
        return events;
    }

    private static double Exponential(Random random, double mean) => -mean * Math.Log(1.0 - random.NextDouble());
}
