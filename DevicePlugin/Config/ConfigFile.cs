using System.Runtime.InteropServices;
using System.Text;
using Sys = MetaGpu.DevicePlugin.Allocations.Libc;

namespace MetaGpu.DevicePlugin.Config;

/// <summary>
/// A config file's bytes, read so that no path can block, crash or bloat the daemon. Only a regular file is read, and
/// at most <see cref="ConfigLimits.MaxFileBytes"/> + 1 bytes of it. What the path is gets checked on the opened handle
/// (fstat, here statx), not by a look at the path before opening, which a ConfigMap's symlink swap can change in
/// between. The open itself is non-blocking: opening a FIFO for reading would otherwise wait forever for a writer
/// (and at start, with SIGTERM unanswered). .NET has no such open and no file type on a handle, hence libc.
/// </summary>
internal static partial class ConfigFile
{
    /// <summary>The file's bytes, or why there are none, as a phrase after the path (<c>is a directory; …</c>).</summary>
    public static bool TryRead(string path, out byte[] bytes, out string? problem)
    {
        bytes = [];
        try
        {
            problem = Read(path, out bytes);
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException or MarshalDirectiveException)
        {
            problem = $"cannot read the config file: libc's open/statx/read are not available ({e.GetType().Name})";
        }
        return problem is null;
    }

    /// <summary>Text as <c>File.ReadAllText</c> reads it: UTF-8 unless a byte order mark says otherwise.</summary>
    public static string Decode(byte[] bytes)
    {
        using var reader = new StreamReader(new MemoryStream(bytes), Encoding.UTF8, detectEncodingFromByteOrderMarks: true);
        return reader.ReadToEnd();
    }

    private static unsafe string? Read(string path, out byte[] bytes)
    {
        bytes = [];
        var fd = Libc.Open(path, Libc.O_RDONLY | Libc.O_NONBLOCK | Libc.O_NOCTTY | Libc.O_CLOEXEC);
        if (fd < 0)
            return OpenProblem(Marshal.GetLastPInvokeError());
        try
        {
            var stat = stackalloc byte[Sys.StatxSize];
            if (Sys.Statx(fd, "", Sys.AT_EMPTY_PATH, Sys.STATX_TYPE | Sys.STATX_SIZE, stat) != 0)
                return $"cannot check what the config path is: {Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())}";
            var type = *(ushort*)(stat + Sys.StatxModeOffset) & Sys.S_IFMT;
            if (type != Sys.S_IFREG)
                return NotARegularFile(type, path, fd);
            var size = *(ulong*)(stat + Sys.StatxSizeOffset);
            if (size > ConfigLimits.MaxFileBytes)
                return TooLarge($"the file is {size} bytes");

            // Read to the end rather than trust the size: a file in /proc says 0, and a file may grow meanwhile.
            var buffer = new byte[Math.Min((int)size, ConfigLimits.MaxFileBytes) + 1];
            var length = 0;
            while (true)
            {
                if (length == buffer.Length)
                {
                    if (length > ConfigLimits.MaxFileBytes)
                        return TooLarge($"the file holds more than {ConfigLimits.MaxFileBytes} bytes");
                    Array.Resize(ref buffer, Math.Min(Math.Max(buffer.Length * 2, 4096), ConfigLimits.MaxFileBytes + 1));
                }
                nint n;
                fixed (byte* p = &buffer[length])
                    n = Libc.Read(fd, p, (nuint)(buffer.Length - length));
                if (n == 0)
                    break;
                if (n < 0)
                {
                    var errno = Marshal.GetLastPInvokeError();
                    if (errno == Libc.EINTR)
                        continue;
                    return $"cannot read the config file: {Marshal.GetPInvokeErrorMessage(errno)}";
                }
                length += (int)n;
            }
            bytes = buffer.AsSpan(0, length).ToArray();
            return null;
        }
        finally
        {
            Libc.Close(fd);
        }
    }

    private static string OpenProblem(int errno) => errno switch
    {
        Libc.ENOENT => "the config file does not exist",
        Libc.ENOTDIR => "the config file does not exist (a part of its path is not a directory)",
        Libc.EACCES or Libc.EPERM => "cannot read the config file: permission denied",
        _ => $"cannot open the config file: {Marshal.GetPInvokeErrorMessage(errno)}",
    };

    private static string TooLarge(string what) =>
        $"{what}; a config file may be at most {ConfigLimits.MaxFileText} ({ConfigLimits.MaxFileBytes} bytes)";

    private static string NotARegularFile(int type, string path, int fd)
    {
        if (type == Sys.S_IFDIR)
            return "is a directory; give the path of the file in it (e.g. .../config.yaml)";
        var what = type switch
        {
            Sys.S_IFIFO => "is a named pipe (FIFO)",
            Sys.S_IFCHR => "is a character device",
            Sys.S_IFBLK => "is a block device",
            Sys.S_IFSOCK => "is a socket",
            _ => $"is of file type 0x{type:x}",
        };
        return $"{what}, not a regular file{LeadsTo(path, fd)}; the config must be a regular file (for a ConfigMap, the file of its key, e.g. /etc/metagpu/config.yaml)";
    }

    /// <summary>Where a symlinked path really went (<c>/dev/zero</c>), read from the handle; only for the message.</summary>
    private static string LeadsTo(string path, int fd)
    {
        try
        {
            var target = new FileInfo($"/proc/self/fd/{fd}").LinkTarget;
            return target is not null && target != Path.GetFullPath(path) ? $" (the path leads to {target})" : "";
        }
        catch (IOException)
        {
            return "";
        }
        catch (UnauthorizedAccessException)
        {
            return "";
        }
    }

    /// <summary>The few libc calls, with Linux's constants (the same on x86-64 and arm64); statx and its struct are the allocation files' (<c>Allocations.Libc</c>).</summary>
    private static partial class Libc
    {
        public const int O_RDONLY = 0;
        public const int O_NOCTTY = 0x100;
        public const int O_NONBLOCK = 0x800;
        public const int O_CLOEXEC = 0x80000;

        public const int EPERM = 1;
        public const int ENOENT = 2;
        public const int EINTR = 4;
        public const int EACCES = 13;
        public const int ENOTDIR = 20;

        [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
        public static partial int Open(string path, int flags);


        [LibraryImport("libc", EntryPoint = "read", SetLastError = true)]
        public static unsafe partial nint Read(int fd, byte* buffer, nuint count);

        [LibraryImport("libc", EntryPoint = "close")]
        public static partial int Close(int fd);
    }
}
