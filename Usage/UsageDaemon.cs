using MetaGpu.DevicePlugin;
using MetaGpu.DevicePlugin.Allocations;
using MetaGpu.Primitives;
using MetaGpu.Usage.Enforcement;
using MetaGpu.Usage.Metrics;
using MetaGpu.Usage.PodResources;
using MetaGpu.Usage.Proc;
using MetaGpu.Usage.Workload;
using Microsoft.Extensions.Logging;

namespace MetaGpu.Usage;

/// <summary>What <c>metagpu start</c> was told about usage (flags <c>--proc-root</c>, <c>--pod-resources-socket</c>, ...).</summary>
public sealed record UsageOptions
{
    public static readonly TimeSpan DefaultInterval = TimeSpan.FromSeconds(1);

    public string ProcRoot { get; init; } = "/proc";
    public string PodResourcesSocket { get; init; } = PodResourcesClient.DefaultSocketPath;

    /// <summary>How often the workload view is rebuilt and enforcement applied; zero: no usage monitoring at all.</summary>
    public TimeSpan Interval { get; init; } = DefaultInterval;

    public MetricsAddress Metrics { get; init; } = MetricsAddress.Default;

    /// <summary>
    /// When the first refresh runs: once this task is done (the first registration with the kubelet, in <c>metagpu
    /// start</c>: reading NVML, /proc and pod-resources must not compete with registering), or after
    /// <see cref="FirstRefreshAtTheLatestAfter"/>, whichever is first. Null: at once.
    /// </summary>
    public Task? FirstRefreshAfter { get; init; }

    public TimeSpan FirstRefreshAtTheLatestAfter { get; init; } = TimeSpan.FromSeconds(1);
}

/// <summary>
/// The usage side of the daemon, beside the device plugin: the workload view refreshed every interval (with memory
/// enforcement and the sweep of unused allocation files) and the metrics responder. Started by
/// <see cref="PluginDaemonOptions.Companion"/>; <see cref="Start"/> throws with a message for the operator when it
/// cannot run (a metrics port in use).
/// </summary>
public sealed class UsageDaemon : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly PodResourcesClient? _pods;
    private readonly MetricsServer? _metrics;
    private readonly Task _loop = Task.CompletedTask;

    public WorkloadWatcher? Watcher { get; }

    private UsageDaemon(PluginNode node, UsageOptions options, DaemonCounters counters, ILoggerFactory logs)
    {
        var log = logs.CreateLogger("metagpu.usage");
        var enforcer = new MemoryEnforcer(new PidfdSignaller(options.ProcRoot), logs.CreateLogger("metagpu.enforcement"));
        if (options.Interval > TimeSpan.Zero)
        {
            var proc = new ProcFs(options.ProcRoot);
            var stateDir = node.Allocations.StateDirectory;
            var mount = proc.LocateOwnStateDir(stateDir);
            if (mount is null)
                log.LogWarning("usage: the state directory {Directory} is not found in this process's mounts; GPU processes cannot be matched to containers", stateDir);
            _pods = new PodResourcesClient(options.PodResourcesSocket, logs.CreateLogger("metagpu.podresources"));
            var sweeper = new AllocationSweeper(node.Allocations, AllocationSweeper.DefaultUnreferencedFor, TimeProvider.System, log);
            Watcher = new WorkloadWatcher(node.Backend, () => node.State.Current, proc, mount, node.Allocations, sweeper, _pods, enforcer,
                () => node.State.Current.Config.Memory, log);
            counters.LastRefreshCost = () => Watcher.LastRefreshCost;
        }
        if (options.Metrics.Enabled)
        {
            var view = Watcher is { } w ? (Func<WorkloadView>)(() => w.View.Current) : () => WorkloadView.Empty;
            var metrics = new UsageMetrics(view, enforcer.Counters, counters);
            _metrics = new MetricsServer(options.Metrics, metrics.Write, () => !_stop.IsCancellationRequested, logs.CreateLogger("metagpu.metrics"));
            _metrics.Start();
            log.LogInformation("metrics on {Address} (port {Port}): GET /metrics, GET /healthz", options.Metrics, _metrics.BoundPort);
        }
        if (Watcher is not null)
        {
            log.LogInformation("usage: refreshing every {Interval} s from {ProcRoot} and the kubelet's pod-resources at {Socket}",
                options.Interval.TotalSeconds, options.ProcRoot, options.PodResourcesSocket);
            _loop = RunAfterAsync(options, Watcher, _stop.Token);
        }
    }

    private static async Task RunAfterAsync(UsageOptions options, WorkloadWatcher watcher, CancellationToken stop)
    {
        await Deferral.UntilAsync(options.FirstRefreshAfter, options.FirstRefreshAtTheLatestAfter, stop).ConfigureAwait(false);
        stop.ThrowIfCancellationRequested();
        await watcher.RunAsync(options.Interval, stop).ConfigureAwait(false);
    }

    public static UsageDaemon Start(PluginNode node, UsageOptions options, DaemonCounters counters, ILoggerFactory logs) => new(node, options, counters, logs);

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        try
        {
            await _loop.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
        if (_metrics is not null)
            await _metrics.DisposeAsync().ConfigureAwait(false);
        _pods?.Dispose();
        _stop.Dispose();
    }
}
