using System.Collections.Concurrent;

namespace MetaGpu.DevicePlugin.Allocations;

/// <summary>
/// The allocation files, <c>&lt;state dir&gt;/allocations/&lt;key&gt;.json</c>. A file is replaced whole (a temporary
/// file in the same directory, fsync, rename over, fsync of the directory), so a container, a reader or a crash never
/// sees half of one; a file whose bytes are already right is left alone (same inode, same mtime), so a repeated
/// Allocate costs one read. One daemon per state directory: the start removes temporary files a crash left.
/// </summary>
public sealed class AllocationFiles
{
    public const string DefaultStateDirectory = "/var/lib/metagpu";
    public const string DirectoryName = "allocations";

    /// <summary>The most files <see cref="Keys"/> lists in one call; the sweep of the rest waits for the next call.</summary>
    public const int MaxListed = 100_000;

    private const string TemporaryMarker = ".json.tmp-";
    private const uint FileMode = 0b110_100_100; // 0644: any user of the container reads its file
    private const uint DirectoryMode = 0b111_101_101; // 0755

    private readonly TimeProvider _time;
    private readonly object _gate = new();

    /// <summary>
    /// When this process last wrote (or confirmed) each key's file, in UTC ticks: a key being handed out is never
    /// swept. Ticks, not a DateTimeOffset: a value the dictionary can write in place, so the update every Allocate
    /// makes allocates nothing (a 16-byte value took a new node each time).
    /// </summary>
    private readonly ConcurrentDictionary<string, long> _written = new(StringComparer.Ordinal);

    /// <summary>Each record's file path, made once per record (a repeated Allocate concatenated it every time).</summary>
    private readonly System.Runtime.CompilerServices.ConditionalWeakTable<AllocationRecord, string> _paths = new();

    /// <summary>
    /// Files whose bytes this process read back and found right, with the file's stamp from just before that read: a
    /// repeated Allocate of the same IDs costs one <c>statx</c> while the stamp is unchanged and was settled when taken
    /// (see <see cref="FileStamp.SettledAt"/>), instead of an open and a read of the file and the JSON of the record.
    /// The record is compared by what the key does not already say (the key names the resource and the IDs).
    /// </summary>
    private readonly ConcurrentDictionary<string, Confirmed> _confirmed = new(StringComparer.Ordinal);

    private sealed record Confirmed(string Resource, int Request, ulong MemoryLimitMiB, IReadOnlyList<AllocationGpu> Gpus, FileStamp Stamp, long TakenAtNs)
    {
        public bool Describes(AllocationRecord record)
        {
            if (Resource != record.Resource || Request != record.Request || MemoryLimitMiB != record.MemoryLimitMiB || Gpus.Count != record.Gpus.Count)
                return false;
            for (var i = 0; i < Gpus.Count; i++)
            {
                if (!Gpus[i].Equals(record.Gpus[i]))
                    return false;
            }
            return true;
        }
    }

    /// <summary>
    /// Creates <c>&lt;state&gt;/allocations</c> (and the state directory) when missing, removes stale temporary files
    /// and checks that a file can be created there.
    /// </summary>
    /// <exception cref="AllocationFileException">The directory cannot be created or written; the message names the path and the errno.</exception>
    public AllocationFiles(string stateDirectory, TimeProvider? time = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(stateDirectory);
        _time = time ?? TimeProvider.System;
        // The host path of a mount must be absolute; the daemon's path of the directory is the host's.
        StateDirectory = Path.TrimEndingDirectorySeparator(Path.GetFullPath(stateDirectory));
        Directory = Path.Combine(StateDirectory, DirectoryName);
        EnsureDirectory();
        RemoveStaleTemporaries();
        CheckWritable();
    }

    public string StateDirectory { get; }

    /// <summary>How long after a file's last change its stamp stands for its bytes; null (the default): the stamp's own <see cref="FileStamp.SettleTime"/>.</summary>
    internal TimeSpan? SettleTime { get; init; }

    /// <summary>How many times <see cref="Write"/> has read a file back to compare it (the rest were settled stamps or writes).</summary>
    internal long ReadBacks => Interlocked.Read(ref _readBacks);

    private long _readBacks;

    /// <summary><c>&lt;state&gt;/allocations</c>.</summary>
    public string Directory { get; }

    public string PathOf(string key) => Path.Combine(Directory, key + ".json");

    /// <summary>Writes the record's file (unless it already holds these bytes, <see cref="IsCurrent(AllocationRecord)"/>) and returns its path.</summary>
    /// <exception cref="AllocationFileException"><c>cannot write &lt;path&gt;: &lt;error&gt; (&lt;ERRNO&gt;)</c>.</exception>
    public string Write(AllocationRecord record)
    {
        var path = PathOfRecord(record);
        if (IsCurrent(record, path))
            return path;
        var bytes = JsonOf(record);
        if (bytes.Length > AllocationJson.MaxBytes)
            throw new AllocationFileException(
                $"cannot write {path}: the allocation of {record.Request} meta-devices needs {bytes.Length} bytes, more than the " +
                $"{AllocationJson.MaxBytesText} an allocation file may have; split the GPUs into fewer meta-devices (metaGpus) for requests this big");

        var temporary = path[..^".json".Length] + TemporaryMarker + TemporarySuffix();
        var fd = Libc.Open(temporary, Libc.O_WRONLY | Libc.O_CREAT | Libc.O_EXCL | Libc.O_CLOEXEC | Libc.O_NOCTTY, FileMode);
        if (fd < 0 && Libc.LastError == Errno.ENOENT)
        {
            // Someone removed the directory while we ran: make it again, once.
            EnsureDirectory();
            fd = Libc.Open(temporary, Libc.O_WRONLY | Libc.O_CREAT | Libc.O_EXCL | Libc.O_CLOEXEC | Libc.O_NOCTTY, FileMode);
        }
        if (fd < 0)
            throw Failure(path, Libc.LastError);
        try
        {
            // The mode asked for at open passes through the umask; a container's user must be able to read the file.
            if (Libc.FChmod(fd, FileMode) != 0 || !WriteAll(fd, bytes) || Libc.FSync(fd) != 0)
                throw Failure(path, Libc.LastError);
        }
        catch
        {
            Libc.Close(fd);
            Libc.Unlink(temporary);
            throw;
        }
        if (Libc.Close(fd) != 0 || Libc.Rename(temporary, path) != 0)
        {
            var errno = Libc.LastError;
            Libc.Unlink(temporary);
            throw Failure(path, errno);
        }
        // The rename is durable only once the directory is.
        var dir = Libc.Open(Directory, Libc.O_RDONLY | Libc.O_CLOEXEC, 0);
        if (dir < 0)
            throw Failure(path, Libc.LastError);
        var synced = Libc.FSync(dir) == 0;
        var syncErrno = Libc.LastError;
        Libc.Close(dir);
        if (!synced)
            throw Failure(path, syncErrno);
        return path;
    }

    /// <summary>
    /// Whether the record's file holds its bytes already, so that <see cref="Write"/> would leave it alone: one
    /// <c>statx</c> while a settled stamp of it stands, otherwise a read of the file. It never writes or waits for the
    /// disk, so a caller that must not wait (the connection's read loop) can check before it hands the write on. Like
    /// <see cref="Write"/>, it marks the key as handed out, so no sweep from here on removes the file.
    /// </summary>
    public bool IsCurrent(AllocationRecord record) => IsCurrent(record, PathOfRecord(record));

    private string PathOfRecord(AllocationRecord record)
    {
        if (_paths.TryGetValue(record, out var path))
            return path;
        path = PathOf(Checked(record));
        _paths.AddOrUpdate(record, path);
        return path;
    }

    private static string Checked(AllocationRecord record)
    {
        ArgumentNullException.ThrowIfNull(record);
        if (!AllocationKey.IsValid(record.Key))
            throw new ArgumentException($"not an allocation key: {record.Key}", nameof(record));
        return record.Key;
    }

    private bool IsCurrent(AllocationRecord record, string path)
    {
        // Marked before anything else: a sweep that runs from here on leaves this key alone (see RemoveUnwritten).
        lock (_gate)
            _written[record.Key] = _time.GetUtcNow().UtcTicks;
        if (_confirmed.TryGetValue(record.Key, out var known) && known.Describes(record) && known.Stamp.SettledAt(known.TakenAtNs, SettleTime) &&
            FileStamp.Of(path) == known.Stamp)
            return true;
        _confirmed.TryRemove(record.Key, out _);

        var bytes = JsonOf(record);
        if (bytes.Length > AllocationJson.MaxBytes)
            return false; // Write says why

        // The stamp is taken before the read: a change after it, even during the read, shows as a different stamp.
        var takenAt = FileStamp.NowNs();
        var stamp = FileStamp.Of(path);
        Interlocked.Increment(ref _readBacks);
        if (!Holds(path, bytes))
            return false;
        if (stamp is { } s)
            _confirmed[record.Key] = new Confirmed(record.Resource, record.Request, record.MemoryLimitMiB, record.Gpus, s, takenAt);
        return true;
    }

    /// <summary>
    /// The record's file bytes, made once per record (<see cref="PlanIndex.RecordOf"/> keeps a record while its set
    /// recurs, so a repeated Allocate compares the file with these instead of writing the JSON again). A record is
    /// immutable; one made by <c>with</c> is another instance and gets its own bytes.
    /// </summary>
    private byte[] JsonOf(AllocationRecord record) =>
        _json.GetValue(record, static r => AllocationJson.Write(r));

    private readonly System.Runtime.CompilerServices.ConditionalWeakTable<AllocationRecord, byte[]> _json = new();

    /// <summary>The record in a key's file; null when there is none, or it is unreadable or not a valid allocation file.</summary>
    public AllocationRecord? TryRead(string key)
    {
        if (key is null || !AllocationKey.IsValid(key))
            return null;
        var bytes = ReadBounded(PathOf(key));
        return bytes is null ? null : AllocationJson.TryRead(bytes) is { } record && record.Key == key ? record : null;
    }

    /// <summary>The keys of the files in the directory (at most <see cref="MaxListed"/>); other names are ignored.</summary>
    public IReadOnlyList<string> Keys()
    {
        var keys = new List<string>();
        try
        {
            foreach (var file in System.IO.Directory.EnumerateFiles(Directory, "*.json"))
            {
                var name = Path.GetFileName(file.AsSpan());
                if (name.Length == AllocationKey.Length + 5 && name.EndsWith(".json", StringComparison.Ordinal) && AllocationKey.IsValid(name[..AllocationKey.Length]))
                    keys.Add(name[..AllocationKey.Length].ToString());
                if (keys.Count == MaxListed)
                    break;
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // What was listed so far is still true; the next call lists again.
        }
        return keys;
    }

    /// <summary>The file's modification time; null when it does not exist.</summary>
    public DateTimeOffset? ModifiedAt(string key)
    {
        if (!AllocationKey.IsValid(key))
            return null;
        try
        {
            var info = new FileInfo(PathOf(key));
            return info.Exists ? new DateTimeOffset(info.LastWriteTimeUtc, TimeSpan.Zero) : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>When this process last wrote or confirmed the key's file; null when it has not.</summary>
    public DateTimeOffset? WrittenAt(string key) => _written.TryGetValue(key, out var t) ? new DateTimeOffset(t, TimeSpan.Zero) : null;

    /// <summary>Removes a key's file. False when there was none.</summary>
    /// <exception cref="AllocationFileException">It exists and cannot be removed.</exception>
    public bool Remove(string key) => RemoveUnwritten(key, DateTimeOffset.MaxValue);

    /// <summary>
    /// Removes a key's file unless this process wrote it after <paramref name="cutoff"/>; the check and the unlink
    /// are one step against <see cref="Write"/>, so a file handed out a moment ago is never removed under a container.
    /// </summary>
    internal bool RemoveUnwritten(string key, DateTimeOffset cutoff)
    {
        if (!AllocationKey.IsValid(key))
            return false;
        lock (_gate)
        {
            if (_written.TryGetValue(key, out var written) && written > cutoff.UtcTicks)
                return false;
            var path = PathOf(key);
            if (Libc.Unlink(path) != 0)
            {
                var errno = Libc.LastError;
                if (errno == Errno.ENOENT)
                {
                    _written.TryRemove(key, out _);
                    _confirmed.TryRemove(key, out _);
                    return false;
                }
                throw new AllocationFileException($"cannot remove {path}: {Errno.Describe(errno)}", errno);
            }
            _written.TryRemove(key, out _);
            _confirmed.TryRemove(key, out _);
            return true;
        }
    }

    /// <summary>Forgets writes of keys whose files are gone and that are older than <paramref name="cutoff"/> (bounded memory).</summary>
    internal void ForgetWrites(IReadOnlySet<string> present, DateTimeOffset cutoff)
    {
        lock (_gate)
        {
            foreach (var (key, written) in _written)
            {
                if (written <= cutoff.UtcTicks && !present.Contains(key))
                {
                    _written.TryRemove(key, out _);
                    _confirmed.TryRemove(key, out _);
                }
            }
        }
    }

    private static AllocationFileException Failure(string path, int errno) =>
        new($"cannot write {path}: {Errno.Describe(errno)}", errno);

    /// <summary><c>mkdir -p</c> of the state directory, then the allocations directory, each 0755 when made here.</summary>
    private void EnsureDirectory()
    {
        var parts = Directory.Split('/', StringSplitOptions.RemoveEmptyEntries);
        var prefix = "";
        foreach (var part in parts)
        {
            prefix += "/" + part;
            if (Libc.Mkdir(prefix, DirectoryMode) == 0)
            {
                // As with files, the umask must not decide who may read the allocations.
                Libc.Chmod(prefix, DirectoryMode);
                continue;
            }
            var errno = Libc.LastError;
            // EEXIST is the common case; an existing parent we may not create in (EACCES, EROFS on /var) answers EEXIST too.
            if (errno != Errno.EEXIST)
                throw new AllocationFileException($"cannot create {prefix}: {Errno.Describe(errno)}", errno);
        }
        if (!System.IO.Directory.Exists(Directory))
            throw new AllocationFileException($"cannot create {Directory}: {Errno.Describe(Errno.ENOTDIR)}", Errno.ENOTDIR);
    }

    private void RemoveStaleTemporaries()
    {
        try
        {
            foreach (var file in System.IO.Directory.EnumerateFiles(Directory, "*" + TemporaryMarker + "*"))
                Libc.Unlink(file);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Left for the next start; the probe below says whether the directory is usable at all.
        }
    }

    /// <summary>Creates and removes a file, so a read-only or foreign-owned directory stops the start, not the first pod.</summary>
    private void CheckWritable()
    {
        var probe = Path.Combine(Directory, "probe" + TemporaryMarker + TemporarySuffix());
        var fd = Libc.Open(probe, Libc.O_WRONLY | Libc.O_CREAT | Libc.O_EXCL | Libc.O_CLOEXEC | Libc.O_NOCTTY, FileMode);
        if (fd < 0)
        {
            var errno = Libc.LastError;
            throw new AllocationFileException($"cannot write in {Directory}: {Errno.Describe(errno)}", errno);
        }
        Libc.Close(fd);
        Libc.Unlink(probe);
    }

    private static unsafe bool WriteAll(int fd, byte[] bytes)
    {
        fixed (byte* start = bytes)
        {
            var done = 0;
            while (done < bytes.Length)
            {
                var n = Libc.Write(fd, start + done, (nuint)(bytes.Length - done));
                if (n < 0 && Libc.LastError == Errno.EINTR)
                    continue;
                if (n <= 0)
                    return false;
                done += (int)n;
            }
        }
        return true;
    }

    /// <summary>
    /// Whether the file at <paramref name="path"/> holds exactly <paramref name="expected"/>: read into a pooled buffer
    /// one byte longer than that, so a longer file is told apart without reading it all and nothing is allocated.
    /// </summary>
    private static bool Holds(string path, byte[] expected)
    {
        var fd = OpenForReading(path);
        if (fd < 0)
            return false;
        var buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(expected.Length + 1);
        try
        {
            var length = ReadUpTo(fd, buffer.AsSpan(0, expected.Length + 1));
            return length == expected.Length && buffer.AsSpan(0, length).SequenceEqual(expected);
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
            Libc.Close(fd);
        }
    }

    /// <summary>A file's bytes when it is at most <see cref="AllocationJson.MaxBytes"/>; null when it is bigger, absent or unreadable.</summary>
    private static byte[]? ReadBounded(string path)
    {
        var fd = OpenForReading(path);
        if (fd < 0)
            return null;
        try
        {
            var buffer = new byte[4096];
            var length = 0;
            while (true)
            {
                var n = ReadUpTo(fd, buffer.AsSpan(length));
                if (n < 0)
                    return null;
                length += n;
                if (length < buffer.Length)
                    break; // the end of the file
                if (buffer.Length > AllocationJson.MaxBytes)
                    return null;
                Array.Resize(ref buffer, Math.Min(buffer.Length * 2, AllocationJson.MaxBytes + 1));
            }
            return buffer.AsSpan(0, length).ToArray();
        }
        finally
        {
            Libc.Close(fd);
        }
    }

    /// <summary>O_NONBLOCK: a FIFO put in the file's place must not hang the reader.</summary>
    private static int OpenForReading(string path) =>
        Libc.Open(path, Libc.O_RDONLY | Libc.O_CLOEXEC | Libc.O_NOCTTY | Libc.O_NONBLOCK, 0);

    /// <summary>Reads until <paramref name="buffer"/> is full or the file ends: the bytes read, or -1 on an error.</summary>
    private static unsafe int ReadUpTo(int fd, Span<byte> buffer)
    {
        var length = 0;
        while (length < buffer.Length)
        {
            nint n;
            fixed (byte* p = buffer)
                n = Libc.Read(fd, p + length, (nuint)(buffer.Length - length));
            if (n < 0 && Libc.LastError == Errno.EINTR)
                continue;
            if (n < 0)
                return -1;
            if (n == 0)
                break;
            length += (int)n;
        }
        return length;
    }

    /// <summary>
    /// A name no other writer picks at the same moment. The temp file is created with O_EXCL, so a clash is an error,
    /// never a shared file; this needs no cryptographic randomness (which on Linux would load OpenSSL).
    /// </summary>
    private static string TemporarySuffix() =>
        string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{Environment.ProcessId:x}-{Interlocked.Increment(ref _temporaries):x}-{Random.Shared.Next():x8}");

    private static long _temporaries;
}
