using System.Runtime.InteropServices;

namespace MetaGpu.Bench;

/// <summary>SIGTERM to a child process, as Kubernetes (or Ctrl-C's cousin) stops it; .NET's Process.Kill only sends SIGKILL.</summary>
static class PosixSignal
{
    private const int SigTerm = 15;

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Kill(int pid, int signal);

    /// <summary>False when it could not be sent (the process is gone).</summary>
    public static bool Terminate(int pid) => Kill(pid, SigTerm) == 0;
}
