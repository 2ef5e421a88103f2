using System.Buffers.Binary;

namespace MetaGpu.DevicePlugin.Allocations;

/// <summary>
/// What <c>statx</c> says of a regular file that changes whenever its bytes can have: device, inode, size, and the
/// modification and change times in nanoseconds. A rename over the file changes the inode, a write the times; the
/// change time cannot be set from user space.
/// </summary>
internal readonly record struct FileStamp(ulong Device, ulong Inode, ulong Size, long ModifiedNs, long ChangedNs)
{
    /// <summary>
    /// The kernel's timestamp tick: file times come from the coarse real-time clock (<c>current_time</c>), which
    /// advances once per tick (<c>clock_getres(CLOCK_REALTIME_COARSE)</c>: 1-10 ms, by the kernel's HZ). Read once.
    /// </summary>
    public static readonly long TickNs = CoarseTickNs();

    /// <summary>
    /// How long after a file's last change a stamp of it is trusted, on a file system whose times carry nanoseconds
    /// from that clock: two ticks. The look (the precise real-time clock) is then two ticks after the change, so the
    /// coarse clock, never a whole tick behind, is already past the file's times: a change after the look gets a
    /// later change time (see <see cref="SettledAt"/>). A real-time clock stepped back defeats this as any settle time.
    /// </summary>
    public static readonly TimeSpan TickSettleTime = TimeSpan.FromTicks((2 * TickNs + 99) / 100);

    /// <summary>
    /// How long on a file system that keeps whole seconds (both times with no nanoseconds: ext4 with 128-byte inodes,
    /// FAT's two seconds), where a change in the same second leaves the times as they were: two seconds.
    /// </summary>
    public static readonly TimeSpan WholeSecondSettleTime = TimeSpan.FromSeconds(2);

    /// <summary>How long after its last change this stamp's file must have been looked at for the stamp to be trusted.</summary>
    public TimeSpan SettleTime =>
        ModifiedNs % 1_000_000_000 == 0 && ChangedNs % 1_000_000_000 == 0 ? WholeSecondSettleTime : TickSettleTime;

    private static unsafe long CoarseTickNs()
    {
        var timespec = stackalloc long[2];
        if (Libc.ClockGetRes(Libc.CLOCK_REALTIME_COARSE, timespec) != 0)
            return 10_000_000; // HZ=100, the coarsest tick Linux has
        var ns = timespec[0] * 1_000_000_000 + timespec[1];
        // Never finer than a millisecond (HZ=1000), never coarser than the whole-second rule.
        return Math.Clamp(ns, 1_000_000, 1_000_000_000);
    }

    /// <summary>The stamp of the file at <paramref name="path"/> itself (a symbolic link is not followed); null when it is missing or not a regular file.</summary>
    public static unsafe FileStamp? Of(string path)
    {
        var buffer = stackalloc byte[Libc.StatxSize];
        const uint mask = Libc.STATX_TYPE | Libc.STATX_INO | Libc.STATX_SIZE | Libc.STATX_MTIME | Libc.STATX_CTIME;
        if (Libc.Statx(Libc.AT_FDCWD, path, Libc.AT_SYMLINK_NOFOLLOW, mask, buffer) != 0)
            return null;
        var span = new ReadOnlySpan<byte>(buffer, Libc.StatxSize);
        // A file system that does not fill every field asked for gives no stamp to trust.
        if ((BinaryPrimitives.ReadUInt32LittleEndian(span[Libc.StatxMaskOffset..]) & mask) != mask)
            return null;
        if ((BinaryPrimitives.ReadUInt16LittleEndian(span[Libc.StatxModeOffset..]) & Libc.S_IFMT) != Libc.S_IFREG)
            return null;
        var device = (ulong)BinaryPrimitives.ReadUInt32LittleEndian(span[Libc.StatxDevMajorOffset..]) << 32 |
                     BinaryPrimitives.ReadUInt32LittleEndian(span[Libc.StatxDevMinorOffset..]);
        return new FileStamp(device, BinaryPrimitives.ReadUInt64LittleEndian(span[Libc.StatxInoOffset..]),
            BinaryPrimitives.ReadUInt64LittleEndian(span[Libc.StatxSizeOffset..]), Nanoseconds(span[Libc.StatxMtimeOffset..]), Nanoseconds(span[Libc.StatxCtimeOffset..]));
    }

    /// <summary>
    /// Whether a stamp taken at <paramref name="takenAtNs"/> (Unix nanoseconds, the real-time clock) still speaks for
    /// the file's bytes: the file's last change was at least <paramref name="settle"/> (by default the stamp's own
    /// <see cref="SettleTime"/>) before the look, so any change after the look shows in the times.
    /// </summary>
    public bool SettledAt(long takenAtNs, TimeSpan? settle = null)
    {
        var before = takenAtNs - (settle ?? SettleTime).Ticks * 100;
        return ChangedNs <= before && ModifiedNs <= before;
    }

    /// <summary>The real-time clock in Unix nanoseconds (what the kernel stamps files with).</summary>
    public static long NowNs() => (DateTime.UtcNow - DateTime.UnixEpoch).Ticks * 100;

    private static long Nanoseconds(ReadOnlySpan<byte> timestamp) =>
        BinaryPrimitives.ReadInt64LittleEndian(timestamp) * 1_000_000_000 + BinaryPrimitives.ReadUInt32LittleEndian(timestamp[8..]);
}
