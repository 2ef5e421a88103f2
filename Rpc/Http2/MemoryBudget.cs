namespace MetaGpu.Rpc.Http2;

/// <summary>
/// Bytes that peers make us hold, counted across every connection that shares the budget: request bytes waiting
/// for a handler, messages being assembled, header blocks and the decoded header lists of open streams, frames
/// queued for a peer. One limit per connection is not enough: a daemon serves one socket per resource and up to
/// a thousand connections each, so only a total keeps the process inside its memory limit. Work that would take
/// the total past <see cref="Limit"/> is refused (by the caller: REFUSED_STREAM, RESOURCE_EXHAUSTED, GOAWAY).
/// </summary>
public sealed class MemoryBudget
{
    /// <summary>Default process-wide limit: leaves a 64 MiB pod limit room for the runtime, code and the GC's own slack.</summary>
    public const long DefaultLimit = 16 * 1024 * 1024;

    private long _current;
    private long _refusals;

    public MemoryBudget(long limit)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 64 * 1024);
        Limit = limit;
    }

    /// <summary>The budget every server and client in the process shares unless its options name another.</summary>
    public static MemoryBudget Shared { get; } = new(DefaultLimit);

    public long Limit { get; }

    /// <summary>Bytes held now.</summary>
    public long Current => Volatile.Read(ref _current);

    /// <summary>Requests refused since start: a counter for tests and metrics.</summary>
    public long Refusals => Volatile.Read(ref _refusals);

    /// <summary>
    /// The last part of the budget, kept for connections that hold little: when peers that hoard have taken the
    /// rest, a fresh client's small call (the kubelet's, a liveness probe's) still gets served.
    /// </summary>
    public long Reserve => Limit / 16;

    /// <summary>
    /// Takes <paramref name="bytes"/> if they fit; false (and nothing taken) otherwise. Only a caller that holds
    /// little (<paramref name="mayUseReserve"/>) may dip into <see cref="Reserve"/>.
    /// </summary>
    public bool TryReserve(long bytes, bool mayUseReserve = false)
    {
        if (bytes <= 0)
            return true;
        var limit = mayUseReserve ? Limit : Limit - Reserve;
        var current = Volatile.Read(ref _current);
        while (true)
        {
            if (current + bytes > limit)
            {
                NoteRefusal();
                return false;
            }
            var seen = Interlocked.CompareExchange(ref _current, current + bytes, current);
            if (seen == current)
                return true;
            current = seen;
        }
    }

    /// <summary>
    /// Takes <paramref name="bytes"/> whatever the total: for memory already in hand that cannot be refused (a frame
    /// queued under a lock). Whoever adds such memory must stop producing more while the budget is over.
    /// </summary>
    public void Force(long bytes)
    {
        if (bytes > 0)
            Interlocked.Add(ref _current, bytes);
    }

    internal void NoteRefusal() => Interlocked.Increment(ref _refusals);

    /// <summary>True while the bulk part of the budget is used up: stop inviting more (window updates, reads).</summary>
    public bool IsNearlyFull => Current > Limit - Reserve;

    public void Release(long bytes)
    {
        if (bytes > 0)
            Interlocked.Add(ref _current, -bytes);
    }

    public bool IsOver => Current > Limit;
}
