using System.Runtime.InteropServices;
using MetaGpu.Usage.Proc;

namespace MetaGpu.Usage.Enforcement;

/// <summary>What became of one attempt to kill a process.</summary>
public enum KillOutcome
{
    /// <summary>SIGKILL was delivered to the process that was measured.</summary>
    Killed,

    /// <summary>The process had already exited: nothing was signalled.</summary>
    Gone,

    /// <summary>The pid now belongs to another process (its start time differs): nothing was signalled.</summary>
    Reused,

    /// <summary>The kernel refused (EPERM: no CAP_KILL for another user's process).</summary>
    Refused,

    /// <summary>Any other error.</summary>
    Failed,
}

/// <summary>Kills one process, but only the very one that was measured.</summary>
public interface IProcessSignaller
{
    /// <summary>SIGKILL <paramref name="pid"/> if it is still the process that started at <paramref name="startTicks"/>.</summary>
    KillOutcome Kill(int pid, ulong startTicks, out string detail);
}

/// <summary>
/// Signals through a pidfd where the kernel has one (Linux 5.3+): the pidfd is opened first, then the start time is
/// checked, so the signal reaches the process that was checked even if the pid is reused a moment later. Without
/// pidfds it checks the start time and uses kill(2), which leaves the race of a pid reused between the two calls.
/// </summary>
public sealed partial class PidfdSignaller(string procRoot) : IProcessSignaller
{
    private const int SigKill = 9;
    private const long SysPidfdSendSignal = 424; // the same number on every architecture (asm-generic)
    private const long SysPidfdOpen = 434;
    private const int Esrch = 3, Eperm = 1, Enosys = 38;

    private volatile bool _noPidfd;

    public KillOutcome Kill(int pid, ulong startTicks, out string detail) => Signal(pid, startTicks, SigKill, out detail);

    /// <summary>
    /// Sends <paramref name="signal"/> to <paramref name="pid"/> if it is still the process that started at
    /// <paramref name="startTicks"/> (<see cref="KillOutcome.Killed"/> means delivered). Pids 0 and 1 never.
    /// </summary>
    public KillOutcome Signal(int pid, ulong startTicks, int signal, out string detail)
    {
        if (pid <= 1)
        {
            detail = $"pid {pid} is never signalled";
            return KillOutcome.Failed;
        }
        if (!_noPidfd)
        {
            var fd = (int)Syscall(SysPidfdOpen, pid, 0, 0, 0);
            if (fd < 0)
            {
                var errno = Marshal.GetLastPInvokeError();
                if (errno == Esrch)
                    return Outcome(KillOutcome.Gone, "it has exited", out detail);
                if (errno != Enosys)
                    return Outcome(Classify(errno), $"pidfd_open: {Marshal.GetPInvokeErrorMessage(errno)}", out detail);
                _noPidfd = true;
            }
            else
            {
                try
                {
                    var check = CheckStart(pid, startTicks, out detail);
                    if (check is not null)
                        return check.Value;
                    if (Syscall(SysPidfdSendSignal, fd, signal, 0, 0) == 0)
                        return Outcome(KillOutcome.Killed, $"{SignalName(signal)} through a pidfd", out detail);
                    var errno = Marshal.GetLastPInvokeError();
                    return Outcome(errno == Esrch ? KillOutcome.Gone : Classify(errno), $"pidfd_send_signal: {Marshal.GetPInvokeErrorMessage(errno)}", out detail);
                }
                finally
                {
                    Close(fd);
                }
            }
        }
        var before = CheckStart(pid, startTicks, out detail);
        if (before is not null)
            return before.Value;
        if (KillSyscall(pid, signal) == 0)
            return Outcome(KillOutcome.Killed, $"{SignalName(signal)} with kill(2) (no pidfd on this kernel)", out detail);
        var e = Marshal.GetLastPInvokeError();
        return Outcome(e == Esrch ? KillOutcome.Gone : Classify(e), $"kill: {Marshal.GetPInvokeErrorMessage(e)}", out detail);
    }

    private KillOutcome? CheckStart(int pid, ulong startTicks, out string detail)
    {
        string text;
        try
        {
            text = File.ReadAllText(Path.Combine(procRoot, pid.ToString(System.Globalization.CultureInfo.InvariantCulture), "stat"));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            detail = "it has exited";
            return KillOutcome.Gone;
        }
        if (!ProcStat.TryParseStartTime(text, out var now))
        {
            detail = "its /proc stat is unreadable";
            return KillOutcome.Failed;
        }
        if (now != startTicks)
        {
            detail = $"the pid now belongs to another process (start time {now}, measured {startTicks})";
            return KillOutcome.Reused;
        }
        detail = "";
        return null;
    }

    /// <summary>SIGKILL, SIGTERM, SIGINT by name; others by number.</summary>
    public static string SignalName(int signal) => signal switch
    {
        9 => "SIGKILL",
        15 => "SIGTERM",
        2 => "SIGINT",
        _ => "signal " + signal.ToString(System.Globalization.CultureInfo.InvariantCulture),
    };

    private static KillOutcome Classify(int errno) => errno == Eperm ? KillOutcome.Refused : KillOutcome.Failed;

    private static KillOutcome Outcome(KillOutcome outcome, string why, out string detail)
    {
        detail = why;
        return outcome;
    }

    [LibraryImport("libc", EntryPoint = "syscall", SetLastError = true)]
    private static partial long Syscall(long number, long a, long b, long c, long d);

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int KillSyscall(int pid, int signal);

    [LibraryImport("libc", EntryPoint = "close")]
    private static partial int Close(int fd);
}
