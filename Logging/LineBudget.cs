using System.Diagnostics;

namespace MetaGpu.Logging;

/// <summary>
/// How many per-call log lines may be written: a token bucket of <see cref="Burst"/> lines, refilled at
/// <see cref="PerSecond"/> a second. A call that finds the bucket empty is counted instead, and the next line that
/// is written first says how many were not. So the kubelet's calls (a few a second, a hundred pods at once) are all
/// in the log, while a client calling thousands of times a second can neither fill the disk nor make every call wait
/// for a line: the log grows with time, not with a peer's call rate. Every call is still counted by the metrics.
/// Thread-safe.
/// </summary>
public sealed class LineBudget
{
    public const int DefaultBurst = 100;
    public const double DefaultPerSecond = 20;

    private readonly object _gate = new();
    private readonly Func<long> _now;
    private readonly double _ticksPerLine;
    private double _tokens;
    private long _filledAt;
    private long _suppressed;
    private long _suppressedSince;

    /// <param name="now">The clock in <see cref="Stopwatch"/> ticks (tests pass their own).</param>
    public LineBudget(int burst = DefaultBurst, double perSecond = DefaultPerSecond, Func<long>? now = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(burst, 1);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(perSecond);
        Burst = burst;
        PerSecond = perSecond;
        _now = now ?? Stopwatch.GetTimestamp;
        _ticksPerLine = Stopwatch.Frequency / perSecond;
        _tokens = burst;
        _filledAt = _now();
    }

    public int Burst { get; }

    public double PerSecond { get; }

    /// <summary>
    /// Takes one line. True: write it, after a line saying that <paramref name="suppressed"/> calls were not logged
    /// (when it is above 0) in the <paramref name="over"/> before. False: the call was counted, write nothing.
    /// </summary>
    public bool TryTake(out long suppressed, out TimeSpan over)
    {
        lock (_gate)
        {
            var now = _now();
            _tokens = Math.Min(Burst, _tokens + (now - _filledAt) / _ticksPerLine);
            _filledAt = now;
            if (_tokens < 1)
            {
                if (_suppressed++ == 0)
                    _suppressedSince = now;
                suppressed = 0;
                over = default;
                return false;
            }
            _tokens -= 1;
            suppressed = _suppressed;
            over = suppressed > 0 ? Stopwatch.GetElapsedTime(_suppressedSince, now) : default;
            _suppressed = 0;
            return true;
        }
    }
}
