using System.Collections.Concurrent;
using System.Diagnostics;
using MetaGpu.DevicePlugin.Config;

namespace MetaGpu.Tests.DevicePlugin.Config;

/// <summary>
/// The watcher on real files. Most tests step it by hand (<c>Poll</c>) with an interval it never reaches, so they do
/// not depend on timing; one checks that the loop really polls.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class ConfigWatcherTests : IDisposable
{
    private static readonly TimeSpan Never = TimeSpan.FromHours(1);

    private readonly TempConfig _dir = new();
    private readonly ConcurrentQueue<SharingConfig> _changes = new();
    private readonly ConcurrentQueue<Exception> _errors = new();

    public void Dispose() => _dir.Dispose();

    private ConfigWatcher Watch(string path, TimeSpan? interval = null) =>
        new(path, p => SharingConfigLoader.Load(p), _changes.Enqueue, _errors.Enqueue, interval ?? Never);

    private static string Yaml(int metaGpus) => $"resources:\n  - name: example.com/gpu\n    metaGpus: {metaGpus}\n";

    /// <summary>
    /// The daemon loads the config, starts other parts, then the watcher: an edit in between must still count as a
    /// change. With the file read when the watcher started, that edit became the start and was never applied (the
    /// daemon kept the config it loaded until the next edit); seen as a flaky BadConfigFileProcessTests run.
    /// </summary>
    [Fact]
    public void AnEditBetweenTheCallersLoadAndTheWatchersStartIsReported()
    {
        var path = _dir.Write(Yaml(10));
        var baseline = ConfigWatcher.FileState.Read(path);
        var loaded = SharingConfigLoader.Load(path); // what the caller starts with
        File.WriteAllText(path, Yaml(30)); // the edit while the caller is still starting
        using var watcher = new ConfigWatcher(path, p => SharingConfigLoader.Load(p), _changes.Enqueue, _errors.Enqueue, Never, baseline);

        watcher.Poll();
        Assert.Equal(10, loaded.Resources[0].MetaGpus);
        Assert.Equal(30, Assert.Single(_changes).Resources[0].MetaGpus);
        Assert.Empty(_errors);
    }

    [Fact]
    public void AValidChangeIsReportedOnce()
    {
        var path = _dir.Write(Yaml(10));
        using var watcher = Watch(path);

        watcher.Poll();
        Assert.Empty(_changes); // what was there at the start is what the caller already has

        File.WriteAllText(path, Yaml(20));
        watcher.Poll();
        watcher.Poll();
        watcher.Poll();

        Assert.Equal(20, Assert.Single(_changes).Resources[0].MetaGpus);
        Assert.Empty(_errors);
    }

    [Fact]
    public void RewritingTheSameBytesIsNoChange()
    {
        var path = _dir.Write(Yaml(10));
        using var watcher = Watch(path);

        File.WriteAllText(path, Yaml(10));
        watcher.Poll();

        Assert.Empty(_changes);
    }

    [Fact]
    public void AnInvalidChangeIsReportedOnceThenTheFixIsAChange()
    {
        var path = _dir.Write(Yaml(10));
        using var watcher = Watch(path);

        File.WriteAllText(path, Yaml(0));
        watcher.Poll();
        watcher.Poll();
        watcher.Poll();

        var error = Assert.IsType<ConfigException>(Assert.Single(_errors));
        Assert.Equal($"{path} line 3: metaGpus must be 1..1000 (got 0)", error.Message);
        Assert.Empty(_changes);

        File.WriteAllText(path, Yaml(5000)); // a different bad content is a new error
        watcher.Poll();
        watcher.Poll();
        Assert.Equal(2, _errors.Count);

        File.WriteAllText(path, Yaml(10)); // valid again, even though it is what the caller had before
        watcher.Poll();
        Assert.Equal(10, Assert.Single(_changes).Resources[0].MetaGpus);
    }

    [Fact]
    public void AMissingFileIsAnErrorOnceAndItsReturnAChange()
    {
        var path = _dir.Write(Yaml(10));
        using var watcher = Watch(path);

        File.Delete(path);
        watcher.Poll();
        watcher.Poll();

        var error = Assert.IsType<ConfigException>(Assert.Single(_errors));
        Assert.Equal($"{path}: the config file does not exist; keeping the last good config", error.Message);

        File.WriteAllText(path, Yaml(10));
        watcher.Poll();
        Assert.Single(_changes);
    }

    [Fact]
    public void AFileThatAppearsLaterIsAChange()
    {
        var path = Path.Combine(_dir.Dir, "later.yaml");
        using var watcher = Watch(path);

        watcher.Poll();
        Assert.Empty(_errors); // missing from the start: the caller knows

        File.WriteAllText(path, Yaml(7));
        watcher.Poll();
        Assert.Equal(7, Assert.Single(_changes).Resources[0].MetaGpus);
    }

    [Fact]
    public void AConfigMapSymlinkSwapIsSeen()
    {
        // The kubelet's layout: config.yaml -> ..data/config.yaml, ..data -> ..<timestamp>/, swapped by renaming a new
        // ..data link over the old one, so the file itself is never written.
        var first = Directory.CreateDirectory(Path.Combine(_dir.Dir, "..2025_01_01_00_00_00.000000001"));
        File.WriteAllText(Path.Combine(first.FullName, "config.yaml"), Yaml(10));
        File.CreateSymbolicLink(Path.Combine(_dir.Dir, "..data"), first.Name);
        var path = Path.Combine(_dir.Dir, "config.yaml");
        File.CreateSymbolicLink(path, Path.Combine("..data", "config.yaml"));
        Assert.Equal(10, SharingConfigLoader.Load(path).Resources[0].MetaGpus);
        using var watcher = Watch(path);

        var second = Directory.CreateDirectory(Path.Combine(_dir.Dir, "..2025_01_01_00_05_00.000000002"));
        File.WriteAllText(Path.Combine(second.FullName, "config.yaml"), Yaml(30));
        var tmp = Path.Combine(_dir.Dir, "..data_tmp");
        File.CreateSymbolicLink(tmp, second.Name);
        Rename(tmp, Path.Combine(_dir.Dir, "..data"));
        first.Delete(recursive: true);
        watcher.Poll();

        Assert.Equal(30, Assert.Single(_changes).Resources[0].MetaGpus);
        Assert.Empty(_errors);
    }

    [Fact]
    public void TheCallersLoaderIsUsedSoOverridesStay()
    {
        var path = _dir.Write(Yaml(10));
        var flags = new ConfigOverrides("spread", null, null, null, null, null, null);
        using var watcher = new ConfigWatcher(path,
            p => SharingConfigLoader.Apply(SharingConfigLoader.Load(p), flags, SharingConfigLoader.FlagsSource),
            _changes.Enqueue, _errors.Enqueue, Never);

        File.WriteAllText(path, Yaml(20));
        watcher.Poll();

        var c = Assert.Single(_changes);
        Assert.Equal(20, c.Resources[0].MetaGpus);
        Assert.Equal(AllocationPolicyKind.Spread, c.Policy);
    }

    [Fact]
    public void ACallbackThatThrowsDoesNotStopIt()
    {
        var path = _dir.Write(Yaml(10));
        using var watcher = new ConfigWatcher(path, p => SharingConfigLoader.Load(p),
            _ => throw new InvalidOperationException("boom"), e => { _errors.Enqueue(e); throw new InvalidOperationException("again"); }, Never);

        File.WriteAllText(path, Yaml(20));
        watcher.Poll();
        File.WriteAllText(path, Yaml(30));
        watcher.Poll();

        Assert.Equal(2, _errors.Count);
        Assert.All(_errors, e => Assert.Equal("boom", e.Message));
    }

    [Fact]
    public async Task TheLoopPollsByItself()
    {
        var path = _dir.Write(Yaml(10));
        var changed = new TaskCompletionSource<SharingConfig>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var watcher = new ConfigWatcher(path, p => SharingConfigLoader.Load(p), c => changed.TrySetResult(c), _errors.Enqueue,
            TimeSpan.FromMilliseconds(20));

        File.WriteAllText(path, Yaml(40));

        var c = await changed.Task.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(40, c.Resources[0].MetaGpus);
    }

    [Fact]
    public void DisposeStopsPromptlyAndNothingIsReportedAfter()
    {
        var path = _dir.Write(Yaml(10));
        var watcher = Watch(path, TimeSpan.FromMilliseconds(10));

        var stopwatch = Stopwatch.StartNew();
        watcher.Dispose();
        stopwatch.Stop();
        Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(2), $"Dispose took {stopwatch.Elapsed}");

        File.WriteAllText(path, Yaml(20));
        Thread.Sleep(100);
        Assert.Empty(_changes);
        watcher.Dispose(); // twice is fine
    }

    [Fact]
    public void DisposeWithTheDefaultIntervalDoesNotWaitForIt()
    {
        var path = _dir.Write(Yaml(10));
        var watcher = new ConfigWatcher(path, p => SharingConfigLoader.Load(p), _changes.Enqueue, _errors.Enqueue);

        var stopwatch = Stopwatch.StartNew();
        watcher.Dispose();

        Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(1), $"Dispose took {stopwatch.Elapsed}");
    }

    [Fact]
    public async Task DisposeFromInsideACallbackDoesNotDeadlock()
    {
        var path = _dir.Write(Yaml(10));
        var disposed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        ConfigWatcher? watcher = null;
        watcher = new ConfigWatcher(path, p => SharingConfigLoader.Load(p),
            _ => { watcher!.Dispose(); disposed.TrySetResult(); }, _errors.Enqueue, TimeSpan.FromMilliseconds(10));

        File.WriteAllText(path, Yaml(20));

        await disposed.Task.WaitAsync(TimeSpan.FromSeconds(10));
    }

    [Theory]
    [InlineData(BadConfigFiles.Kind.Nested)]
    [InlineData(BadConfigFiles.Kind.TooLarge)]
    [InlineData(BadConfigFiles.Kind.ShadowLike)]
    [InlineData(BadConfigFiles.Kind.Directory)]
    [InlineData(BadConfigFiles.Kind.Fifo)]
    [InlineData(BadConfigFiles.Kind.DevZero)]
    [InlineData(BadConfigFiles.Kind.DevUrandom)]
    [InlineData(BadConfigFiles.Kind.Unreadable)]
    public async Task EachBadPathIsReportedOnceAndTheNextValidEditApplies(BadConfigFiles.Kind kind)
    {
        var path = _dir.Write(Yaml(10));
        using var watcher = Watch(path);

        BadConfigFiles.Put(kind, path);
        if (kind == BadConfigFiles.Kind.Unreadable && IsReadable(path))
            return; // root reads mode 000; BadConfigFileProcessTests checks this case with the capability dropped
        // On another thread, so that a read that blocks (the FIFO did) fails the test instead of hanging it.
        await Task.Run(() => { watcher.Poll(); watcher.Poll(); watcher.Poll(); }).WaitAsync(TimeSpan.FromSeconds(20));

        var error = Assert.IsType<ConfigException>(Assert.Single(_errors));
        Assert.StartsWith(path, error.Message, StringComparison.Ordinal);
        Assert.Contains(BadConfigFiles.Expected(kind), error.Message);
        Assert.DoesNotContain("$6$", error.Message);
        Assert.Empty(_changes);

        BadConfigFiles.PutValid(path, Yaml(20));
        watcher.Poll();
        Assert.Equal(20, Assert.Single(_changes).Resources[0].MetaGpus);
        Assert.Single(_errors);
    }

    [Theory]
    [InlineData(BadConfigFiles.Kind.DevZero)]
    [InlineData(BadConfigFiles.Kind.Fifo)]
    [InlineData(BadConfigFiles.Kind.Nested)]
    public async Task TheLoopKeepsPollingAfterABadPath(BadConfigFiles.Kind kind)
    {
        var path = _dir.Write(Yaml(10));
        var changed = new TaskCompletionSource<SharingConfig>(TaskCreationOptions.RunContinuationsAsynchronously);
        var failed = new TaskCompletionSource<Exception>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var watcher = new ConfigWatcher(path, p => SharingConfigLoader.Load(p), c => changed.TrySetResult(c), e => failed.TrySetResult(e),
            TimeSpan.FromMilliseconds(20));

        BadConfigFiles.Put(kind, path);
        Assert.Contains(BadConfigFiles.Expected(kind), (await failed.Task.WaitAsync(TimeSpan.FromSeconds(20))).Message);
        BadConfigFiles.PutValid(path, Yaml(30));

        Assert.Equal(30, (await changed.Task.WaitAsync(TimeSpan.FromSeconds(20))).Resources[0].MetaGpus);
    }

    private static bool IsReadable(string path)
    {
        try
        {
            File.ReadAllBytes(path);
            return true;
        }
        catch (UnauthorizedAccessException)
        {
            return false;
        }
    }

    [Fact]
    public void BadArgumentsAreRefused()
    {
        Assert.Throws<ArgumentException>(() => new ConfigWatcher("", _ => SharingConfig.Default, _ => { }, _ => { }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new ConfigWatcher("x", _ => SharingConfig.Default, _ => { }, _ => { }, TimeSpan.Zero));
    }

    /// <summary>rename(2), which replaces a symlink atomically as the kubelet does.</summary>
    private static void Rename(string from, string to)
    {
        if (rename(from, to) != 0)
            throw new IOException($"rename failed: errno {System.Runtime.InteropServices.Marshal.GetLastPInvokeError()}");
    }

    [System.Runtime.InteropServices.DllImport("libc", SetLastError = true)]
    private static extern int rename([System.Runtime.InteropServices.MarshalAs(System.Runtime.InteropServices.UnmanagedType.LPUTF8Str)] string oldpath,
        [System.Runtime.InteropServices.MarshalAs(System.Runtime.InteropServices.UnmanagedType.LPUTF8Str)] string newpath);
}
