using MetaGpu.DevicePlugin;

namespace MetaGpu.Tests.DevicePlugin;

/// <summary>The inotify watch on the kubelet's directory that makes a kubelet restart noticed at once.</summary>
public sealed class DirectoryWatchTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("mg-watch-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static async Task<bool> WaitAsync(Func<bool> condition, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
                return false;
            await Task.Delay(10);
        }
        return true;
    }

    [Fact]
    public async Task ReportsFilesCreatedDeletedAndRenamed()
    {
        var changes = 0;
        using var watch = new DirectoryWatch(_dir, () => Interlocked.Increment(ref changes));
        Assert.True(watch.Active, watch.Problem);
        var file = Path.Combine(_dir, "kubelet.sock");

        await File.WriteAllTextAsync(file, "");
        Assert.True(await WaitAsync(() => Volatile.Read(ref changes) >= 1, TimeSpan.FromSeconds(10)));
        var seen = Volatile.Read(ref changes);
        File.Delete(file);
        Assert.True(await WaitAsync(() => Volatile.Read(ref changes) > seen, TimeSpan.FromSeconds(10)));
        seen = Volatile.Read(ref changes);
        var other = Path.Combine(_dir, "tmp");
        await File.WriteAllTextAsync(other, "");
        Assert.True(await WaitAsync(() => Volatile.Read(ref changes) > seen, TimeSpan.FromSeconds(10)));
        seen = Volatile.Read(ref changes);
        File.Move(other, file);
        Assert.True(await WaitAsync(() => Volatile.Read(ref changes) > seen, TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public async Task StaysQuietWhenNothingChangesAndStopsWhenDisposed()
    {
        var changes = 0;
        var watch = new DirectoryWatch(_dir, () => Interlocked.Increment(ref changes));
        Assert.True(watch.Active);
        await Task.Delay(300);
        Assert.Equal(0, Volatile.Read(ref changes));
        Assert.True(watch.Running);
        watch.Dispose();
        watch.Dispose(); // twice is harmless
        await File.WriteAllTextAsync(Path.Combine(_dir, "after"), "");
        await Task.Delay(300);
        Assert.Equal(0, Volatile.Read(ref changes));
        // Its own thread, not the process's thread count: tests beside it start and end pool threads.
        Assert.False(watch.Running);
    }

    [Fact]
    public void ADirectoryThatIsNotThereIsAProblemNotAnException()
    {
        using var watch = new DirectoryWatch(Path.Combine(_dir, "missing"), () => { });
        Assert.False(watch.Active);
        Assert.Contains("missing", watch.Problem, StringComparison.Ordinal);
    }
}
