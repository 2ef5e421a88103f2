using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using Microsoft.Extensions.Logging;

namespace MetaGpu.DevicePlugin;

/// <summary>
/// The kubelet's plugin directory, claimed by one daemon at a time. Two daemons on one directory would delete each
/// other's sockets and register again every poll, forever. The claim is an exclusive <c>flock(2)</c> on
/// <see cref="LockFileName"/> beside the sockets, held for the process's life: the kernel releases it when the process
/// dies however it dies, so there is no stale lock to clean up, and the file is never deleted (deleting a lock file
/// races with the next claimant). The file holds the holder's pid, so the one turned away can say who holds it.
/// Current kubelets delete only the socket files on restart; older ones deleted every file in the directory, and a
/// lock file deleted that way would let a second daemon in (the first one keeps running unaware).
/// </summary>
public sealed partial class PluginDirectory : IDisposable
{
    public const string LockFileName = "metagpu.lock";

    private int _fd;

    private PluginDirectory(string path, string lockPath, int fd)
    {
        Path = path;
        LockPath = lockPath;
        _fd = fd;
    }

    public string Path { get; }
    public string LockPath { get; }

    /// <summary>Claims <paramref name="path"/>, or logs why not (as an error a person can act on) and returns null.</summary>
    public static PluginDirectory? Claim(string path, ILogger log)
    {
        try
        {
            return Claim(path);
        }
        catch (PluginDirectoryException e)
        {
            log.LogError("{Error}", e.Message);
            return null;
        }
    }

    /// <summary>
    /// Checks that a plugin socket fits in <paramref name="path"/>, then takes the lock without waiting.
    /// </summary>
    /// <exception cref="PluginDirectoryException">No socket fits, the lock file cannot be opened, or another process holds it.</exception>
    public static PluginDirectory Claim(string path)
    {
        if (SocketNames.RoomForName(path) < SocketNames.ShortestEndpointName)
            throw new PluginDirectoryException(SocketNames.TooLong(path));

        var lockPath = System.IO.Path.Combine(path, LockFileName);
        var fd = Open(lockPath, OpenReadWrite | OpenCreate | OpenCloseOnExec, 0b110_100_100);
        if (fd < 0)
            throw new PluginDirectoryException($"cannot open the lock file {lockPath}: {Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())}");
        if (Flock(fd, LockExclusive | LockNonBlocking) != 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            var holder = errno == WouldBlock ? ReadPid(fd) : null;
            Close(fd);
            if (errno != WouldBlock)
                throw new PluginDirectoryException($"cannot lock {lockPath}: {Marshal.GetPInvokeErrorMessage(errno)}");
            var who = holder is null ? "another metagpu" : $"another metagpu (pid {holder})";
            throw new PluginDirectoryException(
                $"{who} is already serving kubelet plugin directory {path}: it holds the lock {lockPath}. " +
                "Two daemons on one directory would delete each other's sockets; stop the other one first");
        }
        WritePid(fd);
        return new PluginDirectory(path, lockPath, fd);
    }

    private static unsafe string? ReadPid(int fd)
    {
        var buffer = stackalloc byte[32];
        var n = PRead(fd, buffer, 32, 0);
        if (n <= 0)
            return null;
        var text = Encoding.ASCII.GetString(buffer, (int)n).Trim();
        return int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var pid) && pid > 0
            ? pid.ToString(CultureInfo.InvariantCulture)
            : null;
    }

    /// <summary>Best effort: the pid only helps the message of the next claimant.</summary>
    private static unsafe void WritePid(int fd)
    {
        var bytes = Encoding.ASCII.GetBytes(Environment.ProcessId.ToString(CultureInfo.InvariantCulture) + "\n");
        if (FTruncate(fd, 0) != 0)
            return;
        fixed (byte* p = bytes)
            _ = PWrite(fd, p, (nuint)bytes.Length, 0);
    }

    /// <summary>Releases the lock (the process's exit would too).</summary>
    public void Dispose()
    {
        var fd = Interlocked.Exchange(ref _fd, -1);
        if (fd >= 0)
            Close(fd);
    }

    // Linux values, the same on x86-64 and arm64.
    private const int OpenReadWrite = 0x2;
    private const int OpenCreate = 0x40;
    private const int OpenCloseOnExec = 0x80000;
    private const int LockExclusive = 2;
    private const int LockNonBlocking = 4;
    private const int WouldBlock = 11; // EWOULDBLOCK = EAGAIN

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags, int mode);

    [LibraryImport("libc", EntryPoint = "flock", SetLastError = true)]
    private static partial int Flock(int fd, int operation);

    [LibraryImport("libc", EntryPoint = "ftruncate", SetLastError = true)]
    private static partial int FTruncate(int fd, long length);

    [LibraryImport("libc", EntryPoint = "pread", SetLastError = true)]
    private static unsafe partial nint PRead(int fd, byte* buffer, nuint count, long offset);

    [LibraryImport("libc", EntryPoint = "pwrite", SetLastError = true)]
    private static unsafe partial nint PWrite(int fd, byte* buffer, nuint count, long offset);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    private static partial int Close(int fd);
}
