using MetaGpu.Rpc.Grpc;
using MetaGpu.Usage.Proc;

namespace MetaGpu.Control.Identity;

/// <summary>
/// Decides who calls from what the kernel says, never from the request: the connecting process's pid and uid
/// (<see cref="UnixPeer"/>), its mount table, and its pid namespaces. A process whose mounts hold one of our
/// allocation files (source device and root checked against our state directory, Step 6's rule) gets allocation
/// scope; one whose root mount is ours (the daemon's own container) and is root or our own user, or root whose root
/// mount is pid 1's (the node's mount namespace), gets node scope; anyone else is denied. Mount namespaces are told
/// apart by the ID of the root mount, because <c>/proc/&lt;pid&gt;/ns/*</c> needs ptrace rights the daemon lacks.
/// Every read is checked against the caller's pidfd afterwards, so a pid reused by another process mid-way is
/// never taken for the caller.
/// </summary>
public sealed class CallerResolver(ProcFs proc, StateDirMount? state, uint ownUid)
{
    // Our root mount and pid 1's do not change while we run: read once, when a caller first needs them.
    private readonly Lazy<int?> _ownRoot = new(() => proc.OwnMountTable() is { } m ? MountInfo.RootMountId(m) : null);
    private readonly Lazy<int?> _initRoot = new(() => proc.MountTable(1) is { } m ? MountInfo.RootMountId(m) : null);

    /// <exception cref="CallerDeniedException">The caller may not use the control API.</exception>
    public Caller Resolve(UnixPeer? peer)
    {
        if (peer is null)
            throw new CallerDeniedException("the daemon could not read the caller's credentials from its socket (SO_PEERCRED)");
        if (peer.Pid <= 0)
            throw new CallerDeniedException("the calling process is in a pid namespace the daemon cannot see; the MetaGPU daemon needs hostPID: true");
        var pid = peer.Pid;
        if (proc.StartTime(pid) is not { } started)
            throw new CallerDeniedException($"the calling process (pid {pid}) exited before it could be identified");
        if (proc.MountTable(pid) is not { } mounts)
            throw new CallerDeniedException($"the calling process's mount table (pid {pid}) cannot be read");
        var nsPids = proc.NsPids(pid) ?? [pid];
        var keys = state is null ? [] : AllocationMounts.FindKeys(mounts, state);

        Caller caller;
        if (keys.Count > 0)
        {
            caller = new Caller(CallerScope.Allocation, keys.Count == 1 ? "the caller's container holds a MetaGPU allocation" :
                $"the caller's container holds {keys.Count} MetaGPU allocations", pid, started, nsPids, keys, peer);
        }
        else
        {
            var root = MountInfo.RootMountId(mounts);
            var own = _ownRoot.Value;
            var init = _initRoot.Value;
            if (root is not null && root == own && (peer.Uid == 0 || peer.Uid == ownUid))
                caller = new Caller(CallerScope.Node, "the caller shares the daemon's mount namespace", pid, started, nsPids, [], peer);
            else if (root is not null && root == init && peer.Uid == 0)
                caller = new Caller(CallerScope.Node, "the caller is root in the node's mount namespace", pid, started, nsPids, [], peer);
            else if (root is not null && (root == init || root == own))
                throw new CallerDeniedException($"the caller (pid {pid}, uid {peer.Uid}) is on the node but not root: run mgctl as root on the node for the node's view, or inside a container given a MetaGPU resource");
            else
                throw new CallerDeniedException($"the caller (pid {pid}) holds no MetaGPU allocation: mgctl answers inside a container given a MetaGPU resource (e.g. cnvrg.io/metagpu), in the MetaGPU daemon's pod, or to root on the node");
        }
        if (!StillThere(caller))
            throw new CallerDeniedException($"the calling process (pid {pid}) exited while it was being identified");
        return caller;
    }

    /// <summary>
    /// Whether the caller's process still runs: its pidfd says so (a pid reused since cannot fool it, so nothing
    /// more is read), or without pidfds (Linux before 5.3) its start time is still the one it was identified with.
    /// </summary>
    public bool StillThere(Caller caller)
    {
        ArgumentNullException.ThrowIfNull(caller);
        return caller.Peer.IsAlive() ?? proc.StartTime(caller.HostPid) == caller.StartTicks;
    }
}
