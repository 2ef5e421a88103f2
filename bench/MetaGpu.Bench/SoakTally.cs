using System.Collections.Concurrent;

namespace MetaGpu.Bench;

/// <summary>What the soak's mix did, counted as it happens; a minute's counts are the difference of two snapshots.</summary>
enum SoakCount
{
    /// <summary>Pods admitted: GetPreferredAllocation, then Allocate of its answer, both checked.</summary>
    Admitted,
    /// <summary>Pods gone: their IDs free again.</summary>
    Departed,
    /// <summary>Pods that arrived when fewer free meta-devices were listed than they asked for (the kubelet's admission by count).</summary>
    TurnedAway,
    /// <summary>Kubelet restarts after which the daemon registered again.</summary>
    Restarts,
    /// <summary>Health flaps seen through (unhealthy, then healthy again, in ListAndWatch).</summary>
    Flaps,
    /// <summary>Config file rewrites whose device count ListAndWatch then showed.</summary>
    ConfigChanges,
    /// <summary>"configuration change applied" lines in the daemon's log.</summary>
    ConfigApplied,
    /// <summary>ListAndWatch messages on the kubelet's connection.</summary>
    Listings,
    /// <summary>Views (NDJSON lines) the mgctl watchers printed.</summary>
    WatchViews,
    /// <summary>mgctl watchers stopped (SIGTERM, exit 0) and started anew.</summary>
    WatcherRestarts,
    /// <summary>GET /metrics answered 200 with MetaGPU's metrics.</summary>
    Scrapes,
    /// <summary>The daemon's warn and fail log lines.</summary>
    DaemonWarnings,
    /// <summary>Something the product got wrong or did not do in time (each also printed as a FAILED line).</summary>
    Failures,
}

/// <summary>
/// The soak's counters, its timings (re-registration, flaps) and its failures. Thread-safe: every part of the mix
/// writes here at once.
/// </summary>
sealed class SoakTally
{
    public static readonly SoakCount[] All = Enum.GetValues<SoakCount>();

    private readonly long[] _counts = new long[All.Length];
    private readonly ConcurrentQueue<string> _failures = new();
    private readonly ConcurrentQueue<double> _reregisterMs = new();
    private readonly ConcurrentQueue<double> _unhealthyMs = new();
    private readonly ConcurrentQueue<double> _healthyMs = new();
    private readonly ConcurrentQueue<double> _configMs = new();
    private readonly long _start = System.Diagnostics.Stopwatch.GetTimestamp();

    public void Add(SoakCount count, long by = 1) => Interlocked.Add(ref _counts[(int)count], by);

    public long[] Snapshot() => [.. _counts.Select((_, i) => Interlocked.Read(ref _counts[i]))];

    /// <summary>The most failures printed as they come (a daemon gone for good would otherwise fail every step).</summary>
    private const int Printed = 25;

    /// <summary>Counts it, and prints it at once with the time since the soak began.</summary>
    public void Fail(string what)
    {
        Add(SoakCount.Failures);
        var line = $"{System.Diagnostics.Stopwatch.GetElapsedTime(_start).TotalSeconds,7:0.0} s  {what}";
        _failures.Enqueue(line);
        var n = _failures.Count;
        if (n <= Printed)
            Console.Out.WriteLine("FAILED " + line);
        if (n == Printed)
            Console.Out.WriteLine($"(after {Printed} failures the rest are counted, not printed)");
    }

    public IReadOnlyCollection<string> Failures => _failures;

    /// <summary>From a new kubelet.sock listening to the daemon's Register arriving.</summary>
    public void Reregistered(double ms)
    {
        Add(SoakCount.Restarts);
        _reregisterMs.Enqueue(ms);
    }

    /// <summary>A flap: from the XID written to the GPU's devices listed unhealthy, and from then to listed healthy again.</summary>
    public void Flapped(double unhealthyMs, double healthyMs)
    {
        Add(SoakCount.Flaps);
        _unhealthyMs.Enqueue(unhealthyMs);
        _healthyMs.Enqueue(healthyMs);
    }

    /// <summary>A config change: from the file renamed into place to ListAndWatch showing its device count.</summary>
    public void ConfigChanged(double ms)
    {
        Add(SoakCount.ConfigChanges);
        _configMs.Enqueue(ms);
    }

    /// <summary>Re-registration times so far, in order.</summary>
    public double[] ReregisterMs => [.. _reregisterMs];

    /// <summary>Every timing so far, by name (for the summary at the end).</summary>
    public IEnumerable<(string Name, double[] Ms)> Timings() =>
    [
        ("re-registration after a kubelet restart", [.. _reregisterMs]),
        ("XID written -> GPU listed unhealthy", [.. _unhealthyMs]),
        ("listed unhealthy -> listed healthy again", [.. _healthyMs]),
        ("config renamed into place -> new device count listed", [.. _configMs]),
    ];
}
