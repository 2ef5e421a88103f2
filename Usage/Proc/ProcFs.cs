using System.Globalization;
using System.Text;

namespace MetaGpu.Usage.Proc;

/// <summary>
/// Reads who a process is from a procfs (<c>--proc-root</c>, default <c>/proc</c>; with <c>hostPID: true</c> the
/// daemon's own <c>/proc</c> shows every process of the node). Every file is world-readable (no capability, no
/// ptrace), read with a bound, and parsed by a total parser; a process that is gone or unreadable gives null,
/// nothing throws.
/// </summary>
public sealed class ProcFs
{
    /// <summary>The most of a command line kept (4 KiB): it is a label and a log field, not an identity.</summary>
    public const int MaxCommandLineBytes = 4 * 1024;

    /// <summary>
    /// The daemon's own mount table. Always this process's <c>/proc/self</c>, not <c>PROC_ROOT/self</c>: our mounts
    /// are those of our own mount namespace, and a procfs mounted elsewhere (a host's, another pid namespace's) has
    /// no <c>self</c> for us, or resolves it in its own pid namespace. The workloads' tables are read through
    /// the configured root.
    /// </summary>
    private const string OwnMountInfo = "/proc/self/mountinfo";

    private readonly string _procRoot;
    private readonly string _ownMountInfo;
    private readonly Func<string, int, ProcFile.Overflow, string?> _read;

    public ProcFs(string procRoot)
        : this(procRoot, OwnMountInfo, ProcFile.ReadText)
    {
    }

    /// <summary>For tests: another file stands for our own mount table, and the reads can be watched.</summary>
    internal ProcFs(string procRoot, string ownMountInfo, Func<string, int, ProcFile.Overflow, string?> read)
    {
        _procRoot = procRoot;
        _ownMountInfo = ownMountInfo;
        _read = read;
    }

    /// <summary>
    /// The process's allocations (<see cref="AllocationMounts"/>), cgroup identity and command line; null when it
    /// is gone, its stat or mount table is unreadable or over its cap (<see cref="MountInfo.MaxBytes"/>), or it is
    /// not the same process by the end (its start time changed: the pid was reused while we read). The stat is read
    /// before and after everything else for that.
    /// </summary>
    public ProcessIdentity? ReadIdentity(int pid, StateDirMount state)
    {
        if (pid <= 0)
            return null;
        var directory = Path.Join(_procRoot, pid.ToString(CultureInfo.InvariantCulture));
        if (ReadStartTime(directory) is not { } started)
            return null;

        var mountInfo = _read(Path.Join(directory, "mountinfo"), MountInfo.MaxBytes, ProcFile.Overflow.Refuse);
        if (mountInfo is null)
            return null;
        var keys = AllocationMounts.FindKeys(MountInfo.Parse(mountInfo), state);

        // The cgroup and the command line are labels, not the identity: when one cannot be read while the process
        // lives (a file past its cap), the process is still who its mounts say. Whether it lived through the reads
        // is the last stat's to tell.
        var cgroupText = _read(Path.Join(directory, "cgroup"), CgroupPath.MaxBytes, ProcFile.Overflow.Refuse);
        var cgroup = cgroupText is null ? CgroupIdentity.Unknown : CgroupPath.Parse(cgroupText);
        var commandLine = _read(Path.Join(directory, "cmdline"), MaxCommandLineBytes, ProcFile.Overflow.Truncate) ?? "";

        if (ReadStartTime(directory) != started)
            return null;
        return new ProcessIdentity(pid, started, keys, cgroup, CommandLineText(commandLine));
    }

    /// <summary>The process's mount table; null when it is gone, unreadable or over <see cref="MountInfo.MaxBytes"/>.</summary>
    public IReadOnlyList<MountInfoEntry>? MountTable(int pid) =>
        ReadOf(pid, "mountinfo", MountInfo.MaxBytes, ProcFile.Overflow.Refuse) is { } text ? MountInfo.Parse(text) : null;

    /// <summary>Our own mount table (always <c>/proc/self</c>: see <see cref="OwnMountInfo"/>); null when unreadable.</summary>
    public IReadOnlyList<MountInfoEntry>? OwnMountTable() =>
        _read(_ownMountInfo, MountInfo.MaxBytes, ProcFile.Overflow.Refuse) is { } text ? MountInfo.Parse(text) : null;

    /// <summary>The process's pids, outermost pid namespace first (<see cref="ProcStatus"/>); null when gone or unreadable.</summary>
    public int[]? NsPids(int pid) =>
        ReadOf(pid, "status", ProcStatus.MaxBytes, ProcFile.Overflow.Refuse) is { } text && ProcStatus.TryParseNsPids(text, out var pids) ? pids : null;

    /// <summary>The process's command line as one printable line (see <see cref="CommandLineText"/>); empty when unreadable.</summary>
    public string CommandLine(int pid) =>
        ReadOf(pid, "cmdline", MaxCommandLineBytes, ProcFile.Overflow.Truncate) is { } text ? CommandLineText(text) : "";

    /// <summary>The process's start time (clock ticks after boot, field 22 of its stat); null when it is gone or unreadable.</summary>
    public ulong? StartTime(int pid) =>
        pid <= 0 ? null : ReadStartTime(Path.Join(_procRoot, pid.ToString(CultureInfo.InvariantCulture)));

    /// <summary>Where our state directory lives (<see cref="StateDirMount.Locate"/> on our own mount table); null when it cannot be read or matched.</summary>
    public StateDirMount? LocateOwnStateDir(string stateDirectory) =>
        OwnMountTable() is { } own ? StateDirMount.Locate(own, ResolveLinks(stateDirectory)) : null;

    /// <summary><c>PROC_ROOT/PID/FILE</c>, read with its bound; null for pid 0 or less, or when it cannot be read.</summary>
    private string? ReadOf(int pid, string file, int maxBytes, ProcFile.Overflow overflow) =>
        pid > 0 ? _read(Path.Join(_procRoot, pid.ToString(CultureInfo.InvariantCulture), file), maxBytes, overflow) : null;

    private ulong? ReadStartTime(string directory) =>
        _read(Path.Join(directory, "stat"), ProcStat.MaxBytes, ProcFile.Overflow.Refuse) is { } text
        && ProcStat.TryParseStartTime(text, out var ticks)
            ? ticks
            : null;

    /// <summary>
    /// <c>cmdline</c> is the arguments, each ended by NUL: spaces between them, none at the end (a kernel thread's is
    /// empty). Other control characters become '?', so that a command line is always one printable line in a log.
    /// </summary>
    internal static string CommandLineText(string raw)
    {
        var builder = new StringBuilder(raw.Length);
        foreach (var c in raw)
            builder.Append(c == '\0' ? ' ' : char.IsControl(c) ? '?' : c);
        return builder.ToString().TrimEnd(' ');
    }

    /// <summary>
    /// The path with every symbolic link in it resolved, as the kernel resolves it (a state directory reached
    /// through a link lives where the link leads, and mountinfo names that place). A part that does not exist is
    /// kept as it is; more than 40 links (a loop) leaves the path unresolved.
    /// </summary>
    internal static string ResolveLinks(string path)
    {
        string full;
        try
        {
            full = Path.GetFullPath(path);
        }
        catch (Exception e) when (e is ArgumentException or PathTooLongException or NotSupportedException)
        {
            return path;
        }
        var pending = new Stack<string>();
        PushReversed(pending, full);
        var resolved = "/";
        var links = 0;
        while (pending.TryPop(out var part))
        {
            if (part == ".")
                continue;
            if (part == "..")
            {
                resolved = Path.GetDirectoryName(resolved) ?? "/";
                continue;
            }
            var next = Path.Join(resolved, part);
            string? target;
            try
            {
                target = new FileInfo(next).LinkTarget;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
            {
                target = null;
            }
            if (target is null)
            {
                resolved = next;
                continue;
            }
            if (++links > 40)
                return full;
            if (target.StartsWith('/'))
                resolved = "/";
            PushReversed(pending, target);
        }
        return resolved;
    }

    private static void PushReversed(Stack<string> stack, string path)
    {
        var parts = path.Split('/', StringSplitOptions.RemoveEmptyEntries);
        for (var i = parts.Length - 1; i >= 0; i--)
            stack.Push(parts[i]);
    }
}
