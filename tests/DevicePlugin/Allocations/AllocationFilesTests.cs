using MetaGpu.DevicePlugin;
using MetaGpu.DevicePlugin.Allocations;

namespace MetaGpu.Tests.DevicePlugin.Allocations;

/// <summary>The allocation files on a real file system: whole or absent, never half, and every failure named.</summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class AllocationFilesTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("mg-alloc-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private string State => Path.Combine(_root, "state");

    /// <summary>The sample's IDs on GPUs of <paramref name="memoryGiB"/>: the same key with different bytes per size.</summary>
    private static AllocationRecord Sample(ulong memoryGiB)
    {
        var gpu0 = new PlannedGpu(AllocationSamples.Uuid0, 0, 4, 0, memoryGiB << 30);
        var gpu1 = new PlannedGpu(AllocationSamples.Uuid1, 1, 4, 0, memoryGiB << 30);
        return AllocationRecord.Create(AllocationSamples.Resource, AllocationSamples.Ids, new AllocationShape([new GpuShare(gpu0, 2), new GpuShare(gpu1, 1)], 3, 1, true));
    }

    [Fact]
    public void CreatesTheStateAndAllocationsDirectoriesReadableByEveryone()
    {
        var nested = Path.Combine(State, "deeper");
        var files = new AllocationFiles(nested);
        Assert.Equal(Path.Combine(nested, "allocations"), files.Directory);
        foreach (var dir in new[] { State, nested, files.Directory })
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupRead | UnixFileMode.GroupExecute |
                UnixFileMode.OtherRead | UnixFileMode.OtherExecute, File.GetUnixFileMode(dir));
        Assert.Empty(Directory.GetFileSystemEntries(files.Directory));
    }

    [Fact]
    public void ARelativeStateDirectoryBecomesAbsoluteForTheMountsHostPath()
    {
        var relative = Path.GetRelativePath(Environment.CurrentDirectory, State);
        var files = new AllocationFiles(relative);
        Assert.Equal(Path.Combine(State, "allocations", AllocationSamples.Key + ".json"), files.PathOf(AllocationSamples.Key));
    }

    [Fact]
    public void WritesTheDocumentedBytesWorldReadableAndReadsThemBack()
    {
        var files = new AllocationFiles(State);
        var path = files.Write(AllocationSamples.Record());
        Assert.Equal(Path.Combine(State, "allocations", AllocationSamples.Key + ".json"), path);
        Assert.Equal(AllocationSamples.Json, File.ReadAllText(path));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead, File.GetUnixFileMode(path));
        Assert.Equal(AllocationSamples.Record(), files.TryRead(AllocationSamples.Key));
        Assert.Equal([AllocationSamples.Key], files.Keys());
        // Nothing else is left in the directory: no temporary file, no probe.
        Assert.Equal([path], Directory.GetFileSystemEntries(files.Directory));
    }

    [Fact]
    public void AnIdenticalRewriteLeavesTheFileAloneAndADifferentOneReplacesIt()
    {
        var files = new AllocationFiles(State);
        var path = files.Write(Sample(16));
        var first = FileSystemFixtures.Identity(path);
        Thread.Sleep(20); // a rewrite would show in the mtime's nanoseconds
        files.Write(Sample(16));
        new AllocationFiles(State).Write(Sample(16)); // a restarted daemon too
        Assert.Equal(first, FileSystemFixtures.Identity(path));

        files.Write(Sample(32));
        Assert.NotEqual(first.Inode, FileSystemFixtures.Identity(path).Inode);
        Assert.Equal(Sample(32), files.TryRead(AllocationSamples.Key));
    }

    [Fact]
    public void IsCurrentTellsWhetherTheFileHoldsTheRecordAndNeverWrites()
    {
        var files = new AllocationFiles(State);
        var record = Sample(16);
        var path = files.PathOf(record.Key);
        Assert.False(files.IsCurrent(record));
        Assert.False(File.Exists(path)); // a check, not a write
        Assert.NotNull(files.WrittenAt(record.Key)); // but the key is handed out: no sweep removes it from here on

        files.Write(record);
        Assert.True(files.IsCurrent(record));
        var right = File.ReadAllBytes(path);

        // One byte more, one byte less, one byte different: each is not the record's file, and each stays as it is.
        byte[][] wrong = [[.. right, (byte)'\n'], right[..^1], [.. right[..^2], (byte)'x', right[^1]]];
        foreach (var bytes in wrong)
        {
            File.WriteAllBytes(path, bytes);
            Assert.False(files.IsCurrent(record));
            Assert.Equal(bytes, File.ReadAllBytes(path));
        }
        files.Write(record);
        Assert.Equal(right, File.ReadAllBytes(path));
    }

    [Fact]
    public void ARecordMadeFromAnotherByWithIsComparedByItsOwnBytes()
    {
        // The file bytes are kept per record instance: a record made by `with` has the same key and must not be
        // taken for the one it was made from.
        var files = new AllocationFiles(State);
        var record = Sample(16);
        files.Write(record);
        Assert.True(files.IsCurrent(record));
        var other = Sample(32); // same IDs and key, GPUs of twice the memory
        var changed = record with { Gpus = other.Gpus, MemoryLimitMiB = other.MemoryLimitMiB };
        Assert.False(files.IsCurrent(changed));
        files.Write(changed);
        Assert.Equal(changed, files.TryRead(record.Key));
        Assert.False(files.IsCurrent(record));
    }

    /// <summary>Files with a short settle time, confirmed once and settled: the next Write of the same record needs no read.</summary>
    private (AllocationFiles Files, string Path) Settled(AllocationRecord record)
    {
        var files = new AllocationFiles(State) { SettleTime = TimeSpan.FromMilliseconds(50) };
        var path = files.Write(record);
        Thread.Sleep(120); // past the settle time of the file's last change
        files.Write(record); // read back, found right, stamped
        return (files, path);
    }

    [Fact]
    public void ARepeatedWriteOfASettledFileIsOneStatNotARead()
    {
        var (files, path) = Settled(Sample(16));
        var reads = files.ReadBacks;
        var identity = FileSystemFixtures.Identity(path);
        for (var i = 0; i < 5; i++)
            Assert.Equal(path, files.Write(Sample(16)));
        Assert.Equal(reads, files.ReadBacks);
        Assert.Equal(identity, FileSystemFixtures.Identity(path));
    }

    /// <summary>
    /// What every repeated Allocate asks (the connection's read loop, once per container) allocates nothing once the
    /// file is settled: the record's path is made once, and the key's write time is updated in place.
    /// </summary>
    [Fact]
    public void ARepeatedCheckOfASettledFileAllocatesNothing()
    {
        var record = Sample(16);
        var (files, _) = Settled(record);
        Assert.True(files.IsCurrent(record));
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 50; i++)
            Assert.True(files.IsCurrent(record));
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    [Fact]
    public void ByDefaultAStampIsTrustedOnceTheKernelsTimestampClockHasMovedPastTheFile()
    {
        // The default settle time is the stamp's own: two ticks of the coarse clock on a file system with nanosecond
        // times (this one), not a second. A set that recurs 100 ms after its file was written costs a statx, no read.
        var files = new AllocationFiles(State);
        var path = files.Write(Sample(16));
        Thread.Sleep(100);
        files.Write(Sample(16)); // read back and stamped, 100 ms after the write: settled
        var reads = files.ReadBacks;
        for (var i = 0; i < 5; i++)
            Assert.Equal(path, files.Write(Sample(16)));
        Assert.Equal(reads, files.ReadBacks);
        // ... and a change after that look still shows: the clock has moved past the file's times.
        File.WriteAllText(path, File.ReadAllText(path).Replace("12288", "12289"));
        files.Write(Sample(16));
        Assert.Equal(reads + 1, files.ReadBacks);
        Assert.Equal(Sample(16), files.TryRead(AllocationSamples.Key));
    }

    [Fact]
    public void AFileChangedInPlaceAfterItsStampIsReadAndRewritten()
    {
        var (files, path) = Settled(Sample(16));
        // Same size, same inode, the modification time put back: only the change time tells, and it does.
        var original = File.ReadAllBytes(path);
        var modified = File.GetLastWriteTimeUtc(path);
        var tampered = (byte[])original.Clone();
        tampered[^3] ^= 0x01;
        using (var f = new FileStream(path, FileMode.Open, FileAccess.Write))
            f.Write(tampered);
        File.SetLastWriteTimeUtc(path, modified);
        var reads = files.ReadBacks;
        files.Write(Sample(16));
        Assert.Equal(reads + 1, files.ReadBacks);
        Assert.Equal(original, File.ReadAllBytes(path));
    }

    [Fact]
    public void AFileChangedRightAfterItWasConfirmedIsReadAgainUntilItSettles()
    {
        // A file written a moment ago is never trusted by its stamp, whatever its times say (a settle time far longer
        // than the test, so that a slow machine cannot let it settle between the calls).
        var files = new AllocationFiles(State) { SettleTime = TimeSpan.FromMinutes(1) };
        var path = files.Write(Sample(16));
        var reads = files.ReadBacks;
        files.Write(Sample(16));
        files.Write(Sample(16));
        Assert.Equal(reads + 2, files.ReadBacks);
        File.WriteAllText(path, File.ReadAllText(path).Replace("12288", "12289"));
        files.Write(Sample(16));
        Assert.Equal(Sample(16), files.TryRead(AllocationSamples.Key));
    }

    [Fact]
    public void AFileReplacedRemovedOrOfAnotherPlanAfterItsStampIsWrittenAgain()
    {
        var (files, path) = Settled(Sample(16));
        var other = path + ".other";
        File.WriteAllBytes(other, File.ReadAllBytes(path));
        File.Move(other, path, overwrite: true); // the same bytes, another inode
        var reads = files.ReadBacks;
        files.Write(Sample(16));
        Assert.Equal(reads + 1, files.ReadBacks);

        (files, path) = Settled(Sample(16));
        File.Delete(path);
        files.Write(Sample(16));
        Assert.Equal(Sample(16), files.TryRead(AllocationSamples.Key));

        (files, path) = Settled(Sample(16));
        files.Write(Sample(32)); // the same key on GPUs of another size: other bytes
        Assert.Equal(Sample(32), files.TryRead(AllocationSamples.Key));
    }

    [Fact]
    public void ASymbolicLinkInTheFilesPlaceIsNeverTrustedByItsStamp()
    {
        var (files, path) = Settled(Sample(16));
        var target = Path.Combine(_root, "elsewhere.json");
        File.Copy(path, target);
        File.Delete(path);
        File.CreateSymbolicLink(path, target);
        Thread.Sleep(120);
        var reads = files.ReadBacks;
        files.Write(Sample(16));
        files.Write(Sample(16));
        Assert.Equal(reads + 2, files.ReadBacks);
    }

    [Fact]
    public async Task AReaderNeverSeesAPartialFile()
    {
        var files = new AllocationFiles(State);
        var path = files.Write(Sample(16));
        var a = File.ReadAllBytes(path);
        files.Write(Sample(32));
        var b = File.ReadAllBytes(path);
        Assert.NotEqual(a, b);

        using var done = new CancellationTokenSource();
        var reads = 0;
        var reader = Task.Run(() =>
        {
            while (!done.IsCancellationRequested)
            {
                var seen = File.ReadAllBytes(path);
                Assert.True(seen.AsSpan().SequenceEqual(a) || seen.AsSpan().SequenceEqual(b), $"read {seen.Length} bytes that are neither version");
                Interlocked.Increment(ref reads);
            }
        });
        // The writes overlap the reads: at least 300 of them, and on until the reader has read 100 times (on a loaded
        // machine the reader's task may start only after 300 quick writes are done).
        var deadline = DateTime.UtcNow.AddSeconds(30);
        for (var i = 0; i < 300 || (Volatile.Read(ref reads) < 100 && !reader.IsCompleted && DateTime.UtcNow < deadline); i++)
            files.Write(Sample(i % 2 == 0 ? 16UL : 32UL));
        await done.CancelAsync();
        await reader;
        Assert.True(reads >= 100, $"the reader read {reads} times while the files were rewritten");
        Assert.Single(Directory.GetFileSystemEntries(files.Directory));
    }

    [Fact]
    public void TheStartRemovesTemporaryFilesACrashLeftAndNothingElse()
    {
        var dir = Directory.CreateDirectory(Path.Combine(State, "allocations")).FullName;
        var stale = Path.Combine(dir, AllocationSamples.Key + ".json.tmp-0123456789abcdef");
        var probe = Path.Combine(dir, "probe.json.tmp-0123456789abcdef");
        var kept = Path.Combine(dir, AllocationSamples.Key + ".json");
        var other = Path.Combine(dir, "README");
        foreach (var f in new[] { stale, probe, kept, other })
            File.WriteAllText(f, "x");
        _ = new AllocationFiles(State);
        Assert.False(File.Exists(stale));
        Assert.False(File.Exists(probe));
        Assert.True(File.Exists(kept));
        Assert.True(File.Exists(other));
    }

    [Fact]
    public void KeysListsOnlyFilesNamedByAKey()
    {
        var files = new AllocationFiles(State);
        files.Write(AllocationSamples.Record());
        File.WriteAllText(Path.Combine(files.Directory, "not-a-key.json"), "{}");
        File.WriteAllText(Path.Combine(files.Directory, AllocationSamples.Key.ToUpperInvariant() + ".json"), "{}");
        File.WriteAllText(Path.Combine(files.Directory, AllocationSamples.Key + ".json.bak"), "{}");
        Directory.CreateDirectory(Path.Combine(files.Directory, new string('a', 40) + ".json"));
        Assert.Equal([AllocationSamples.Key], files.Keys());
    }

    [Fact]
    public async Task TryReadIsNullForWhatIsNotAnAllocationFile()
    {
        var files = new AllocationFiles(State);
        var key = AllocationSamples.Key;
        Assert.Null(files.TryRead(key));
        Assert.Null(files.TryRead("../../etc/passwd"));
        File.WriteAllText(files.PathOf(key), "not json");
        Assert.Null(files.TryRead(key));
        // A valid file under another key's name is not that key's.
        File.WriteAllText(files.PathOf(new string('b', 40)), AllocationSamples.Json);
        Assert.Null(files.TryRead(new string('b', 40)));
        // A file past the limit is not read whole.
        File.WriteAllText(files.PathOf(key), AllocationSamples.Json + new string(' ', AllocationJson.MaxBytes));
        Assert.Null(files.TryRead(key));
        // A FIFO in the file's place answers at once instead of hanging the reader.
        File.Delete(files.PathOf(key));
        Assert.Equal(0, Mkfifo(files.PathOf(key), 0b110_100_100));
        var read = Task.Run(() => files.TryRead(key));
        Assert.Null(await read.WaitAsync(TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public void RemoveDeletesTheFileOnce()
    {
        var files = new AllocationFiles(State);
        var path = files.Write(AllocationSamples.Record());
        Assert.True(files.Remove(AllocationSamples.Key));
        Assert.False(File.Exists(path));
        Assert.False(files.Remove(AllocationSamples.Key));
        Assert.Empty(files.Keys());
    }

    [Fact]
    public void ADirectoryRemovedWhileRunningIsMadeAgain()
    {
        var files = new AllocationFiles(State);
        Directory.Delete(State, recursive: true);
        var path = files.Write(AllocationSamples.Record());
        Assert.Equal(AllocationSamples.Json, File.ReadAllText(path));
    }

    [Fact]
    public void AStateDirectoryBelowAFileCannotBeCreatedAndTheErrorSaysWhere()
    {
        var file = Path.Combine(_root, "file");
        File.WriteAllText(file, "");
        var e = Assert.Throws<AllocationFileException>(() => new AllocationFiles(Path.Combine(file, "state")));
        Assert.Equal($"cannot create {file}/state: Not a directory (ENOTDIR)", e.Message);
        Assert.Equal(20, e.Errno);
    }

    [Fact]
    public void AnAllocationsPathThatIsAFileStopsTheStart()
    {
        Directory.CreateDirectory(State);
        File.WriteAllText(Path.Combine(State, "allocations"), "");
        var e = Assert.Throws<AllocationFileException>(() => new AllocationFiles(State));
        Assert.Equal($"cannot create {State}/allocations: Not a directory (ENOTDIR)", e.Message);
    }

    [Fact]
    public void AWriteThatFailsNamesThePathAndTheErrno()
    {
        var files = new AllocationFiles(State);
        // Fails for root too: the directory's place is taken by a regular file.
        Directory.Delete(files.Directory);
        File.WriteAllText(files.Directory, "");
        var e = Assert.Throws<AllocationFileException>(() => files.Write(AllocationSamples.Record()));
        Assert.Equal($"cannot write {State}/allocations/{AllocationSamples.Key}.json: Not a directory (ENOTDIR)", e.Message);
    }

    [Fact]
    public void AReadOnlyFileSystemIsEROFSAtTheStartAndAtAWrite()
    {
        var files = new AllocationFiles(State);
        using (FileSystemFixtures.ReadOnly(State))
        {
            var write = Assert.Throws<AllocationFileException>(() => files.Write(AllocationSamples.Record()));
            Assert.Equal($"cannot write {State}/allocations/{AllocationSamples.Key}.json: Read-only file system (EROFS)", write.Message);
            var start = Assert.Throws<AllocationFileException>(() => new AllocationFiles(State));
            Assert.Equal($"cannot write in {State}/allocations: Read-only file system (EROFS)", start.Message);
            Assert.Empty(Directory.GetFileSystemEntries(files.Directory));
        }
    }

    [Fact]
    public void ErrnoNamesAreTheSymbolicOnes()
    {
        Assert.Equal("Read-only file system (EROFS)", Errno.Describe(30));
        Assert.Equal("No space left on device (ENOSPC)", Errno.Describe(28));
        Assert.Equal("Disk quota exceeded (EDQUOT)", Errno.Describe(122));
        Assert.Equal("errno 4095", Errno.Name(4095));
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "mkfifo", SetLastError = true)]
    private static extern int Mkfifo(string path, uint mode);
}
