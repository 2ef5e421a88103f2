using System.Runtime;

namespace MetaGpu.Rpc.Grpc;

/// <summary>
/// Gives memory back after a burst of calls. The GC keeps the heap it grew to (a 13,000-call burst leaves 2.5 MB
/// live but 15-24 MB committed); one compacting full collection, once the process has been quiet for a moment,
/// returns it to the system for a few milliseconds of pause. Process-wide: every server reports its calls here,
/// and the collection runs once per burst, never on a quiet daemon's timer.
/// </summary>
public static class IdleCompaction
{
    private static readonly Lock Gate = new();
    private static Timer? _timer;
    private static TimeSpan _delay = Timeout.InfiniteTimeSpan;
    private static long _lastActivity;
    private static bool _armed;
    private static long _collections;

    /// <summary>Compacting collections run so far: for tests and metrics.</summary>
    public static long Collections => Interlocked.Read(ref _collections);

    /// <summary>Turns it on with the shortest delay any server asked for (null or infinite: that server does not ask).</summary>
    internal static void Enable(TimeSpan? delay)
    {
        if (delay is not { } d || d == Timeout.InfiniteTimeSpan || d < TimeSpan.Zero)
            return;
        lock (Gate)
        {
            if (_delay == Timeout.InfiniteTimeSpan || d < _delay)
                _delay = d;
            _timer ??= new Timer(static _ => OnTimer(), null, Timeout.Infinite, Timeout.Infinite);
        }
    }

    /// <summary>A call or a connection ended: a collection follows once nothing else happens for the delay.</summary>
    internal static void NoteActivity()
    {
        Volatile.Write(ref _lastActivity, Environment.TickCount64);
        if (Volatile.Read(ref _armed))
            return;
        lock (Gate)
        {
            if (_armed || _timer is null)
                return;
            _armed = true;
            _timer.Change(_delay, Timeout.InfiniteTimeSpan);
        }
    }

    private static void OnTimer()
    {
        lock (Gate)
        {
            var quietFor = TimeSpan.FromMilliseconds(Environment.TickCount64 - Volatile.Read(ref _lastActivity));
            if (quietFor < _delay)
            {
                _timer!.Change(_delay - quietFor, Timeout.InfiniteTimeSpan);
                return;
            }
            _armed = false;
        }
        GCSettings.LargeObjectHeapCompactionMode = GCLargeObjectHeapCompactionMode.CompactOnce;
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        Interlocked.Increment(ref _collections);
    }
}
