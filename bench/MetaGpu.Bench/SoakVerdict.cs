using System.Globalization;

namespace MetaGpu.Bench;

/// <summary>
/// One minute of the soak: the lowest and the highest of its one-second footprint samples (each metric on its own),
/// and what the mix did in it.
/// </summary>
sealed record SoakMinute(int Number, SoakFootprint Floor, SoakFootprint Peak, int Samples, long[] Counts, double[] ReregisterMs)
{
    public long Count(SoakCount c) => Counts[(int)c];
}

/// <summary>
/// Whether the daemon's footprint stayed flat after the first minute. Each metric is judged on its per-minute floor,
/// the lowest of the minute's samples: a leak (memory, a descriptor, a thread never given back) raises every later
/// sample, so it raises the floor, while a moment's use (a scrape's buffer, a file being written, a pool thread for a
/// burst) raises only some samples. Flat means: over minutes 2..N, the highest floor minus the lowest is within the
/// metric's bound.
/// <list type="bullet">
/// <item>RSS and RssAnon: 1 MiB or 5% of minute 2's floor, whichever is more (the GC's gen0 budget is 4 MiB, so how much
/// of it is touched at the low point moves a little; a creep of 10 KB/s, as seen once, is 4.7 MiB over minutes 2-9).</item>
/// <item>Open fds: 0. Every sample is taken between the mix's steps, so the daemon holds the same sockets at each: the
/// kubelet's connection and its own socket, the control socket and the watchers' connections, the metrics listener and
/// the scraper's kept-alive connection, the pod-resources connection. One more at every floor is a descriptor kept.</item>
/// <item>Threads: 2. The .NET thread pool adds workers for a burst and retires one only after 20 s idle, so a burst late in
/// a minute can hold a worker or two over the next minute's samples; a thread kept per kubelet restart would be 13 more
/// over ten minutes.</item>
/// </list>
/// </summary>
static class SoakVerdict
{
    public const int RssBoundKiB = 1024;
    public const double RssBoundFraction = 0.05;
    public const int FdBound = 0;
    public const int ThreadBound = 2;

    /// <param name="What">What the metric's floor was made of, shown for the lowest and the highest floor when it is not flat.</param>
    private sealed record Metric(string Name, string Unit, Func<SoakFootprint, long> Value, Func<long, long> Bound, Func<SoakFootprint, string>? What = null);

    private static readonly Metric[] Metrics =
    [
        new("rss", "KiB", f => f.RssKiB, first => Math.Max(RssBoundKiB, (long)(first * RssBoundFraction))),
        new("rss_anon", "KiB", f => f.RssAnonKiB, first => Math.Max(RssBoundKiB, (long)(first * RssBoundFraction))),
        new("fds", "fds", f => f.Fds, _ => FdBound, f => f.FdKinds),
        new("threads", "threads", f => f.Threads, _ => ThreadBound, f => f.ThreadNames),
    ];

    /// <summary>
    /// Each metric judged over minutes 2..N; empty when fewer than two minutes follow the first (nothing to compare).
    /// </summary>
    public static IReadOnlyList<SoakJudgement> Judge(IReadOnlyList<SoakMinute> minutes)
    {
        var judged = minutes.Skip(1).ToList();
        if (judged.Count < 2)
            return [];
        return [.. Metrics.Select(m =>
        {
            var floors = judged.Select(x => m.Value(x.Floor)).ToArray();
            var lowest = judged.MinBy(x => m.Value(x.Floor))!;
            var highest = judged.MaxBy(x => m.Value(x.Floor))!;
            return new SoakJudgement(m.Name, m.Unit, judged[0].Number, judged[^1].Number, floors.Min(), floors.Max(), floors[^1] - floors[0], m.Bound(floors[0]),
                m.What is { } what ? $"minute {lowest.Number} ({m.Value(lowest.Floor)}): {what(lowest.Floor)}; minute {highest.Number} ({m.Value(highest.Floor)}): {what(highest.Floor)}" : null);
        })];
    }

    /// <summary>Prints a verdict line per metric (and its BENCH line); true when there was a verdict and every metric is flat.</summary>
    public static bool Print(IReadOnlyList<SoakMinute> minutes)
    {
        var judgements = Judge(minutes);
        if (judgements.Count == 0)
        {
            Console.Out.WriteLine($"not judged: {Math.Max(0, minutes.Count - 1)} minute(s) after the first; flat needs at least two (--soak-minutes 3 or more)");
            return false;
        }
        foreach (var j in judgements)
        {
            Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{j.Name,-9} {(j.Flat ? "flat" : "NOT FLAT")}: floors of minutes {j.FirstMinute}-{j.LastMinute} from {j.Lowest} to {j.Highest} {j.Unit}, " +
                $"spread {j.Spread} (bound {j.Bound}), last minus first {j.LastMinusFirst:+0;-0;0}"));
            if (!j.Flat && j.What is { } what)
                Console.Out.WriteLine($"          {what}");
            Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"BENCH {{\"config\":\"soak\",\"figure\":\"{j.Name}_floor_spread\",\"value\":{j.Spread},\"unit\":\"{j.Unit}\",\"bound\":{j.Bound},\"flat\":{(j.Flat ? "true" : "false")},\"minutes\":\"{j.FirstMinute}-{j.LastMinute}\"}}"));
        }
        return judgements.All(j => j.Flat);
    }
}

/// <summary>One metric's verdict: its floors over minutes <see cref="FirstMinute"/>..<see cref="LastMinute"/>.</summary>
/// <param name="What">For fds and threads: what the lowest and the highest floor were made of.</param>
sealed record SoakJudgement(string Name, string Unit, int FirstMinute, int LastMinute, long Lowest, long Highest, long LastMinusFirst, long Bound, string? What)
{
    public long Spread => Highest - Lowest;
    public bool Flat => Spread <= Bound;
}
