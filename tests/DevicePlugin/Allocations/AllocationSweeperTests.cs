using MetaGpu.DevicePlugin.Allocations;
using MetaGpu.DevicePlugin;
using MetaGpu.Tests.Support;
using Microsoft.Extensions.Logging;

namespace MetaGpu.Tests.DevicePlugin.Allocations;

/// <summary>Unused allocation files go after the period, files in use never, and nothing goes early after a restart.</summary>
public sealed class AllocationSweeperTests : IDisposable
{
    private static readonly TimeSpan Period = TimeSpan.FromMinutes(10);
    private static readonly HashSet<string> None = [];
    private readonly string _state = Directory.CreateTempSubdirectory("mg-sweep-").FullName;
    private readonly ManualTime _time = new();
    private readonly AllocationFiles _files;
    private readonly AllocationSweeper _sweeper;

    public AllocationSweeperTests()
    {
        _files = new AllocationFiles(_state, _time);
        _sweeper = new AllocationSweeper(_files, Period, _time);
    }

    public void Dispose() => Directory.Delete(_state, recursive: true);

    /// <summary>A record of its own key per <paramref name="share"/>.</summary>
    private static AllocationRecord Record(int share)
    {
        var gpu = new PlannedGpu(AllocationSamples.Uuid0, 0, 100, 0, 16UL << 30);
        return AllocationRecord.Create(AllocationSamples.Resource, [new MetaDeviceId(0, share, gpu.Uuid).ToString()], new AllocationShape([new GpuShare(gpu, 1)], 1, 1, false));
    }

    /// <summary>As if written by an earlier daemon: the mtime long past, no write in this process.</summary>
    private string WrittenLongAgo(int share)
    {
        var record = Record(share);
        var path = new AllocationFiles(_state).Write(record);
        File.SetLastWriteTimeUtc(path, _time.GetUtcNow().UtcDateTime - TimeSpan.FromDays(1));
        return record.Key;
    }

    private void Pass(TimeSpan t) => _time.Advance(t);

    [Fact]
    public void AFileInUseIsNeverRemoved()
    {
        var key = WrittenLongAgo(1);
        for (var i = 0; i < 100; i++)
        {
            Assert.Empty(_sweeper.Sweep(new HashSet<string> { key }));
            Pass(TimeSpan.FromHours(1));
        }
        Assert.Equal([key], _files.Keys());
    }

    [Fact]
    public void AnUnreferencedFileGoesOnlyAfterTheWholePeriod()
    {
        var record = Record(1);
        _files.Write(record);
        var key = record.Key;
        Assert.Empty(_sweeper.Sweep(None)); // first seen missing now
        Pass(Period - TimeSpan.FromSeconds(1));
        Assert.Empty(_sweeper.Sweep(None));
        Assert.True(File.Exists(_files.PathOf(key)));
        // Well past the end, also past the file's real mtime (the real clock ran on while this clock stood still).
        Pass(TimeSpan.FromSeconds(30));
        Assert.Equal([key], _sweeper.Sweep(None));
        Assert.False(File.Exists(_files.PathOf(key)));
        Assert.Empty(_sweeper.Sweep(None));
    }

    [Fact]
    public void ReferencedOnceInThePeriodStartsTheCountAgain()
    {
        var key = WrittenLongAgo(1);
        _sweeper.Sweep(None);
        Pass(TimeSpan.FromMinutes(9));
        _sweeper.Sweep(new HashSet<string> { key }); // a refresh that saw it in use
        Pass(TimeSpan.FromMinutes(1));
        Assert.Empty(_sweeper.Sweep(None));
        Pass(TimeSpan.FromMinutes(9));
        Assert.Empty(_sweeper.Sweep(None));
        Pass(TimeSpan.FromMinutes(1));
        Assert.Equal([key], _sweeper.Sweep(None));
    }

    [Fact]
    public void ARestartedDaemonWaitsAFullPeriodEvenForOldFiles()
    {
        var key = WrittenLongAgo(1);
        var restarted = new AllocationSweeper(new AllocationFiles(_state, _time), Period, _time);
        Assert.Empty(restarted.Sweep(None));
        Pass(Period - TimeSpan.FromSeconds(1));
        Assert.Empty(restarted.Sweep(None));
        Pass(TimeSpan.FromSeconds(1));
        Assert.Equal([key], restarted.Sweep(None));
    }

    [Fact]
    public void AFileModifiedWithinThePeriodIsKept()
    {
        var key = WrittenLongAgo(1);
        _sweeper.Sweep(None);
        Pass(TimeSpan.FromMinutes(9));
        // Another process (an earlier daemon's last write) touched it a minute before the period ends.
        File.SetLastWriteTimeUtc(_files.PathOf(key), _time.GetUtcNow().UtcDateTime);
        Pass(TimeSpan.FromMinutes(2));
        Assert.Empty(_sweeper.Sweep(None));
        Pass(TimeSpan.FromMinutes(8));
        Assert.Equal([key], _sweeper.Sweep(None));
    }

    [Fact]
    public void AFileHandedOutAgainIsKeptThoughItsBytesAndMtimeDidNotChange()
    {
        var key = WrittenLongAgo(1);
        _sweeper.Sweep(None);
        Pass(TimeSpan.FromMinutes(9));
        var mtime = File.GetLastWriteTimeUtc(_files.PathOf(key));
        _files.Write(Record(1)); // the same IDs allocated to a new container: identical, left alone
        Assert.Equal(mtime, File.GetLastWriteTimeUtc(_files.PathOf(key)));
        Pass(TimeSpan.FromMinutes(2));
        Assert.Empty(_sweeper.Sweep(None));
        Pass(TimeSpan.FromMinutes(8));
        Assert.Equal([key], _sweeper.Sweep(None));
    }

    [Fact]
    public void OnlyTheUnreferencedOfManyGo()
    {
        var keys = Enumerable.Range(0, 20).Select(WrittenLongAgo).ToList();
        var inUse = keys.Where((_, i) => i % 3 == 0).ToHashSet();
        _sweeper.Sweep(inUse);
        Pass(Period);
        var removed = _sweeper.Sweep(inUse);
        Assert.Equal(keys.Except(inUse).Order(), removed.Order());
        Assert.Equal(inUse.Order(), _files.Keys().Order());
    }

    [Fact]
    public void AFileThatCannotBeRemovedIsLoggedOnceAndKept()
    {
        var log = new RecordingLog();
        var sweeper = new AllocationSweeper(_files, Period, _time, log);
        var key = WrittenLongAgo(1);
        sweeper.Sweep(None);
        Pass(Period);
        using (FileSystemFixtures.ReadOnly(_state))
        {
            for (var i = 0; i < 5; i++)
            {
                Assert.Empty(sweeper.Sweep(None));
                Pass(TimeSpan.FromSeconds(1));
            }
        }
        var warning = Assert.Single(log.At(LogLevel.Warning));
        Assert.Equal($"cannot remove an unused allocation file: cannot remove {_files.PathOf(key)}: Read-only file system (EROFS)", warning);
        Assert.Equal([key], sweeper.Sweep(None));
    }
}
