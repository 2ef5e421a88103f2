using MetaGpu.Nvml;
using MetaGpu.Tests.Support;
using MetaGpu.Usage;
using MetaGpu.Usage.Metrics;
using Microsoft.Extensions.Logging.Abstractions;

namespace MetaGpu.Tests.Usage;

/// <summary>When the usage monitor first refreshes: after the first registration, or at the latest after its time.</summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class UsageDaemonStartTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("mg-usage-start-");

    public void Dispose() => _dir.Delete(recursive: true);

    private UsageDaemon Start(IGpuBackend backend, Task after, TimeSpan latest)
    {
        var node = SimulatedPluginNode.Of(backend, Path.Combine(_dir.FullName, "state"));
        var options = new UsageOptions
        {
            Interval = TimeSpan.FromMilliseconds(100),
            PodResourcesSocket = Path.Combine(_dir.FullName, "no-kubelet.sock"),
            Metrics = MetricsAddress.Off,
            FirstRefreshAfter = after,
            FirstRefreshAtTheLatestAfter = latest,
        };
        return UsageDaemon.Start(node, options, new DaemonCounters(), NullLoggerFactory.Instance);
    }

    [Fact]
    public async Task TheFirstRefreshWaitsForTheRegistration()
    {
        using var backend = SimulatedBackend.Parse("1");
        var registered = new TaskCompletionSource();
        await using var usage = Start(backend, registered.Task, TimeSpan.FromMinutes(5));
        var before = usage.Watcher!.View.Current.Version;
        await Task.Delay(500); // five intervals
        Assert.Equal(before, usage.Watcher.View.Current.Version);

        registered.SetResult();
        await usage.Watcher.View.WaitForChangeAsync(before, new CancellationTokenSource(TimeSpan.FromSeconds(30)).Token);
    }

    [Fact]
    public async Task WithoutARegistrationTheFirstRefreshComesWhenItsTimeIsUp()
    {
        using var backend = SimulatedBackend.Parse("1");
        await using var usage = Start(backend, new TaskCompletionSource().Task, TimeSpan.FromMilliseconds(200));
        var before = usage.Watcher!.View.Current.Version;
        await usage.Watcher.View.WaitForChangeAsync(before, new CancellationTokenSource(TimeSpan.FromSeconds(30)).Token);
    }
}
