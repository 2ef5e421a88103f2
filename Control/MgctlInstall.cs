using MetaGpu.DevicePlugin.Allocations;

namespace MetaGpu.Control;

/// <summary>
/// Where mgctl and the control socket live on the node, and how the daemon puts its own executable there: the
/// daemon's binary is mgctl (one binary, dispatched on its name), installed as <c>&lt;state&gt;/bin/mgctl</c> for
/// Allocate to mount read-only into each container. The copy is atomic (a temporary name, fsync, rename, fsync of
/// the directory), so a container never sees half a binary; a container started before keeps the file it was given
/// (a bind mount holds the inode), and a file with the same bytes is left alone.
/// </summary>
public static class MgctlInstall
{
    public const string BinDirectoryName = "bin";
    public const string RunDirectoryName = "run";
    public const string BinaryName = "mgctl";
    public const string SocketName = "control.sock";

    /// <summary>Where containers see mgctl unless told otherwise (<c>--mgctl-path</c>).</summary>
    public const string DefaultContainerBinary = "/usr/local/bin/mgctl";

    /// <summary>Where containers see the socket's directory (a directory, so that a restarted daemon's new socket shows).</summary>
    public const string ContainerRunDirectory = "/run/metagpu";

    public const string ContainerSocket = ContainerRunDirectory + "/" + SocketName;

    /// <summary>The environment variable that tells mgctl in a container where the socket is.</summary>
    public const string SocketVariable = "METAGPU_CTL_SOCKET";

    public static string BinaryPath(string stateDirectory) => Path.Combine(stateDirectory, BinDirectoryName, BinaryName);
    public static string RunDirectory(string stateDirectory) => Path.Combine(stateDirectory, RunDirectoryName);
    public static string SocketPath(string stateDirectory) => Path.Combine(stateDirectory, RunDirectoryName, SocketName);

    /// <summary>
    /// Copies <paramref name="executable"/> to <see cref="BinaryPath"/> unless the same bytes are there, and makes the
    /// run directory; returns the installed path.
    /// </summary>
    /// <exception cref="IOException">Either cannot be made; the message names the path and the reason.</exception>
    public static string Install(string stateDirectory, string executable)
    {
        ArgumentNullException.ThrowIfNull(stateDirectory);
        ArgumentNullException.ThrowIfNull(executable);
        var bin = Path.Combine(stateDirectory, BinDirectoryName);
        var target = BinaryPath(stateDirectory);
        try
        {
            EnsureRunDirectory(stateDirectory);
            Directory.CreateDirectory(bin);
            if (SameBytes(executable, target))
                return target;
            var temporary = Path.Combine(bin, $".{BinaryName}.{Environment.ProcessId}.{Random.Shared.Next():x8}.tmp");
            try
            {
                using (var source = new FileStream(executable, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16))
                using (var copy = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
                {
                    source.CopyTo(copy);
                    copy.Flush(flushToDisk: true);
                }
                // 0755 whatever the umask: every container user must be able to run it.
                if (Libc.Chmod(temporary, 0b111_101_101) != 0 || Libc.Rename(temporary, target) != 0)
                    throw new IOException($"cannot install mgctl as {target}: {Errno.Describe(Libc.LastError)}");
            }
            catch
            {
                File.Delete(temporary);
                throw;
            }
            var dir = Libc.Open(bin, Libc.O_RDONLY | Libc.O_CLOEXEC, 0);
            if (dir >= 0)
            {
                Libc.FSync(dir);
                Libc.Close(dir);
            }
            return target;
        }
        catch (Exception e) when (e is UnauthorizedAccessException or IOException and not FileNotFoundException)
        {
            throw new IOException(e.Message.Contains(target, StringComparison.Ordinal) ? e.Message : $"cannot install mgctl as {target}: {e.Message}", e);
        }
    }

    /// <summary>
    /// Makes the run directory (0755, whatever the umask) if it is not there. Never replaced, only made: containers
    /// have the directory itself mounted, so a new one would be invisible to every running container.
    /// </summary>
    public static void EnsureRunDirectory(string stateDirectory)
    {
        var run = RunDirectory(stateDirectory);
        if (Directory.Exists(run))
            return;
        Directory.CreateDirectory(run);
        Libc.Chmod(run, 0b111_101_101);
    }

    private static bool SameBytes(string a, string b)
    {
        try
        {
            var ia = new FileInfo(a);
            var ib = new FileInfo(b);
            if (!ib.Exists || ia.Length != ib.Length)
                return false;
            using var fa = new FileStream(a, FileMode.Open, FileAccess.Read, FileShare.Read, 1);
            using var fb = new FileStream(b, FileMode.Open, FileAccess.Read, FileShare.Read, 1);
            var ba = new byte[1 << 16];
            var bb = new byte[1 << 16];
            while (true)
            {
                var n = fa.ReadAtLeast(ba, ba.Length, throwOnEndOfStream: false);
                if (fb.ReadAtLeast(bb, bb.Length, throwOnEndOfStream: false) != n || !ba.AsSpan(0, n).SequenceEqual(bb.AsSpan(0, n)))
                    return false;
                if (n < ba.Length)
                    return true;
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }
}
