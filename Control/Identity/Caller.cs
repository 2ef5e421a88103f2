using MetaGpu.Rpc.Grpc;

namespace MetaGpu.Control.Identity;

/// <summary>What a caller may see and do.</summary>
public enum CallerScope
{
    /// <summary>Its own allocations (one per resource its container holds) and their processes.</summary>
    Allocation,

    /// <summary>The whole node: the daemon's own container, or root in the node's mount namespace.</summary>
    Node,
}

/// <summary>
/// One caller of the control API, as the kernel vouches for it: its process (host pid and start time), its pids
/// in each pid namespace (<see cref="NsPids"/>, outermost first), and its scope with the reason for it.
/// </summary>
public sealed record Caller(
    CallerScope Scope,
    string Reason,
    int HostPid,
    ulong StartTicks,
    int[] NsPids,
    IReadOnlyList<string> AllocationKeys,
    UnixPeer Peer)
{
    /// <summary>The caller's pid as it sees itself (its innermost pid namespace); the host pid in node scope.</summary>
    public int OwnPid => Scope == CallerScope.Node || NsPids.Length == 0 ? HostPid : NsPids[^1];

    /// <summary>
    /// A process's pid as this caller sees it: the host pid in node scope; otherwise its pid at the caller's depth
    /// of pid namespaces, 0 when it has none there (it is outside the caller's pid namespace). A process of the
    /// caller's own allocation is in the caller's container, so at the caller's depth it is in the caller's namespace.
    /// </summary>
    public int PidAsSeen(int hostPid, int[]? nsPids)
    {
        if (Scope == CallerScope.Node)
            return hostPid;
        var depth = NsPids.Length;
        return nsPids is { } p && depth > 0 && p.Length >= depth ? p[depth - 1] : 0;
    }

    public bool Holds(string allocationKey)
    {
        foreach (var k in AllocationKeys)
        {
            if (string.Equals(k, allocationKey, StringComparison.Ordinal))
                return true;
        }
        return false;
    }
}

/// <summary>The caller may not use the control API; the message says why, for the person at the terminal.</summary>
public sealed class CallerDeniedException(string reason) : Exception(reason);
