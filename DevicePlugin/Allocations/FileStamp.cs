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
    /// How long after a file's last change a stamp of it is trusted by default. The kernel stamps times from a clock
    /// that advances in ticks (a few milliseconds), so a write in the same tick as our look could leave the times as
    /// they were; a second is far beyond any tick (as Git treats "racily clean" index entries).
    /// </summary>
    public static readonly TimeSpan DefaultSettleTime = TimeSpan.FromSeconds(1);

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
    /// the file's bytes: the file's last change was at least <paramref name="settle"/> before the look, so any change
    /// after the look shows in the times.
    /// </summary>
    public bool SettledAt(long takenAtNs, TimeSpan settle)
    {
        var before = takenAtNs - settle.Ticks * 100;
        return ChangedNs <= before && ModifiedNs <= before;
    }

    /// <summary>The real-time clock in Unix nanoseconds (what the kernel stamps files with).</summary>
    public static long NowNs() => (DateTime.UtcNow - DateTime.UnixEpoch).Ticks * 100;

    private static long Nanoseconds(ReadOnlySpan<byte> timestamp) =>
        BinaryPrimitives.ReadInt64LittleEndian(timestamp) * 1_000_000_000 + BinaryPrimitives.ReadUInt32LittleEndian(timestamp[8..]);
}
