using System.Runtime.InteropServices;

namespace MetaGpu.DevicePlugin.Allocations;

/// <summary>
/// The system calls behind <see cref="AllocationFiles"/> (and the config file's statx), called directly so that a
/// failure keeps its errno (the managed file API folds EROFS, ENOSPC and ENOTDIR into one IOException) and so that
/// fsync of a directory is possible.
/// Constants are Linux's and the same on x86-64 and arm64 (O_DIRECTORY and O_NOFOLLOW are not, so they are not used).
/// </summary>
internal static partial class Libc
{
    public const int O_RDONLY = 0;
    public const int O_WRONLY = 0x1;
    public const int O_CREAT = 0x40;
    public const int O_EXCL = 0x80;
    public const int O_NOCTTY = 0x100;
    public const int O_NONBLOCK = 0x800;
    public const int O_CLOEXEC = 0x80000;

    public const int AT_FDCWD = -100;
    public const int AT_EMPTY_PATH = 0x1000;
    public const int AT_SYMLINK_NOFOLLOW = 0x100;
    public const uint STATX_TYPE = 0x1;
    public const uint STATX_MTIME = 0x40;
    public const uint STATX_CTIME = 0x80;
    public const uint STATX_INO = 0x100;
    public const uint STATX_SIZE = 0x200;
    public const int S_IFMT = 0xF000;
    public const int S_IFSOCK = 0xC000;
    public const int S_IFREG = 0x8000;
    public const int S_IFBLK = 0x6000;
    public const int S_IFDIR = 0x4000;
    public const int S_IFCHR = 0x2000;
    public const int S_IFIFO = 0x1000;

    /// <summary><c>struct statx</c>: 256 bytes on every architecture, the fields at fixed offsets.</summary>
    public const int StatxSize = 256;
    public const int StatxMaskOffset = 0;
    public const int StatxModeOffset = 28;
    public const int StatxInoOffset = 32;
    public const int StatxSizeOffset = 40;
    public const int StatxCtimeOffset = 96; // struct statx_timestamp: i64 seconds, u32 nanoseconds, 4 reserved bytes
    public const int StatxMtimeOffset = 112;
    public const int StatxDevMajorOffset = 136;
    public const int StatxDevMinorOffset = 140;

    [LibraryImport("libc", EntryPoint = "statx", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static unsafe partial int Statx(int dirfd, string path, int flags, uint mask, byte* buffer);

    public const int CLOCK_REALTIME_COARSE = 5;

    /// <summary><c>clock_getres</c>: the resolution as seconds and nanoseconds (a <c>struct timespec</c> of two longs on 64-bit Linux).</summary>
    [LibraryImport("libc", EntryPoint = "clock_getres")]
    public static unsafe partial int ClockGetRes(int clock, long* timespec);

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Open(string path, int flags, uint mode);

    [LibraryImport("libc", EntryPoint = "read", SetLastError = true)]
    public static unsafe partial nint Read(int fd, byte* buffer, nuint count);

    [LibraryImport("libc", EntryPoint = "write", SetLastError = true)]
    public static unsafe partial nint Write(int fd, byte* buffer, nuint count);

    [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
    public static partial int FSync(int fd);

    [LibraryImport("libc", EntryPoint = "fchmod", SetLastError = true)]
    public static partial int FChmod(int fd, uint mode);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    public static partial int Close(int fd);

    [LibraryImport("libc", EntryPoint = "rename", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Rename(string from, string to);

    [LibraryImport("libc", EntryPoint = "mkdir", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Mkdir(string path, uint mode);

    [LibraryImport("libc", EntryPoint = "chmod", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Chmod(string path, uint mode);

    [LibraryImport("libc", EntryPoint = "unlink", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Unlink(string path);

    [LibraryImport("libc", EntryPoint = "geteuid")]
    public static partial uint GetEuid();

    public static int LastError => Marshal.GetLastPInvokeError();
}
