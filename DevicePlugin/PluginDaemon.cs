using MetaGpu.DevicePlugin.Allocations;
using MetaGpu.DevicePlugin.Config;
using MetaGpu.Nvml;
using Microsoft.Extensions.Logging;

namespace MetaGpu.DevicePlugin;

/// <summary>What <c>metagpu start</c> was asked to do.</summary>
public sealed record PluginDaemonOptions
{
    public const string DefaultPluginDirectory = "/var/lib/kubelet/device-plugins";

    public string PluginDirectory { get; init; } = DefaultPluginDirectory;

    /// <summary>Where the allocation files live (<c>allocations/</c>); the host's directory, mounted at the same path.</summary>
    public string StateDirectory { get; init; } = AllocationFiles.DefaultStateDirectory;
    public string? ConfigPath { get; init; }

    /// <summary>A config given directly (the demo), used instead of the file, the environment and the flags.</summary>
    public SharingConfig? Config { get; init; }
    public ConfigOverrides Flags { get; init; } = ConfigOverrides.None;
    public Func<string, string?> GetEnvironment { get; init; } = Environment.GetEnvironmentVariable;
    public TimeSpan ConfigPollInterval { get; init; } = TimeSpan.FromSeconds(2);
    public TimeSpan KubeletPollInterval { get; init; } = TimeSpan.FromMilliseconds(200);

    public static readonly TimeSpan DefaultIdleConnectionTimeout = TimeSpan.FromMinutes(5);

    /// <summary>Told of registrations and finished plugin calls (metrics).</summary>
    public PluginEvents Events { get; init; } = PluginEvents.None;

    /// <summary>
    /// Started once the node's state exists, before the first registration, and disposed at stop (the usage monitor
    /// and metrics). An exception from it ends the start with its message (exit 1): it runs in the same process, so
    /// a companion that cannot start (a metrics port in use) is a configuration to fix, not something to hide.
    /// </summary>
    public Func<PluginNode, IAsyncDisposable>? Companion { get; init; }

    /// <summary>A connection to our sockets with no open call for this long is closed; infinite: never. A stream is never cut.</summary>
    public TimeSpan IdleConnectionTimeout { get; init; } = DefaultIdleConnectionTimeout;

    /// <summary>What Allocate adds to every container (mgctl and its socket), published by the companion.</summary>
    public ContainerAdditions? ContainerAdditions { get; init; }
}

/// <summary>
/// The device-plugin daemon: config, GPUs, share plan, health and the kubelet endpoints, wired together and run until
/// stopped. Start-up problems a person must fix (bad config, no plugin directory) end it with a message; problems at
/// run time (a GPU failing, the kubelet restarting, a bad config edit) are logged and lived with.
/// </summary>
public static class PluginDaemon
{
    public static async Task<int> RunAsync(IGpuBackend backend, PluginDaemonOptions options, ILoggerFactory logs, CancellationToken stop)
    {
        var log = logs.CreateLogger("metagpu");
        if (!Directory.Exists(options.PluginDirectory))
        {
            log.LogError("kubelet plugin directory {Directory} does not exist: is --kubelet-dir right, and is the directory mounted into this pod?", options.PluginDirectory);
            return 1;
        }
        using var claim = PluginDirectory.Claim(options.PluginDirectory, log);
        if (claim is null)
            return 1;
        AllocationFiles allocations;
        try
        {
            allocations = new AllocationFiles(options.StateDirectory);
        }
        catch (AllocationFileException e)
        {
            log.LogError("state directory {Directory} is not usable: {Error}; is --state-dir (METAGPU_STATE_DIR) right, and is the host's " +
                "directory mounted read-write into this pod at the same path (a hostPath volume)?", options.StateDirectory, e.Message);
            return 1;
        }

        SharingConfig Load(string? path) => SharingConfigLoader.Apply(
            SharingConfigLoader.Apply(SharingConfigLoader.Load(path), SharingConfigLoader.FromEnvironment(options.GetEnvironment), SharingConfigLoader.EnvironmentSource),
            options.Flags, SharingConfigLoader.FlagsSource);

        SharingConfig config;
        GpuInventory inventory;
        SharePlan plan;
        ConfigWatcher.FileState? baseline;
        try
        {
            // The watcher's starting point is the file as it was before this load: an edit made while the daemon
            // starts (before the watcher runs) is then still seen as a change.
            baseline = options.ConfigPath is not null && options.Config is null ? ConfigWatcher.FileState.Read(options.ConfigPath) : null;
            config = options.Config ?? Load(options.ConfigPath);
            inventory = backend.GetInventory();
            plan = SharePlanBuilder.Build(config, inventory);
        }
        catch (ConfigException e)
        {
            log.LogError("invalid configuration: {Error}", e.Message);
            return 1;
        }
        catch (GpuBackendException e)
        {
            log.LogError("cannot read the GPUs: {Error}", e.Message);
            return 1;
        }
        LogWarnings(log, config, plan);
        foreach (var u in inventory.Unavailable)
            log.LogWarning("{Gpu} is unavailable and not advertised: {Reason}", u.Name, u.Reason);
        log.LogInformation("metagpu {Version}: {Gpus} GPU(s) through {Backend}, driver {Driver}, CUDA {Cuda}; config from {Source}",
            Program.Version, inventory.Gpus.Count, backend.Kind, inventory.DriverVersion, inventory.CudaDriverVersion, config.Source);
        LogEffectiveConfig(log, "effective configuration", config, plan);

        var healthOptions = config.Health.ApplyTo(new GpuHealthOptions());
        var uuids = new List<string>(inventory.Gpus.Count);
        foreach (var g in inventory.Gpus)
            uuids.Add(g.Uuid);
        using var monitor = new GpuHealthMonitor(backend, uuids, healthOptions, logs.CreateLogger("metagpu.health"));
        var store = new NodeStateStore(new NodeState(1, config, inventory, plan, monitor.Current));
        monitor.Start();

        using var stopAll = CancellationTokenSource.CreateLinkedTokenSource(stop);
        var healthPump = PumpHealthAsync(monitor, store, stopAll.Token);

        using var watcher = options.ConfigPath is null || options.Config is not null ? null : new ConfigWatcher(options.ConfigPath, Load,
            changed =>
            {
                try
                {
                    var newPlan = SharePlanBuilder.Build(changed, store.Current.Inventory);
                    monitor.Options = changed.Health.ApplyTo(new GpuHealthOptions());
                    store.Update(s => s with { Config = changed, Plan = newPlan });
                    LogWarnings(log, changed, newPlan);
                    LogEffectiveConfig(log, "configuration change applied; effective configuration", changed, newPlan);
                }
                catch (ConfigException e)
                {
                    log.LogError("configuration change rejected, keeping the running configuration: {Error}", e.Message);
                }
            },
            error => log.LogError("configuration change rejected, keeping the running configuration: {Error}", error.Message),
            options.ConfigPollInterval, baseline);

        IAsyncDisposable? companion = null;
        if (options.Companion is { } start)
        {
            try
            {
                companion = start(new PluginNode(store, allocations, backend));
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                log.LogError("cannot start: {Error}", e.Message);
                await stopAll.CancelAsync().ConfigureAwait(false);
                return 1;
            }
        }

        var manager = new PluginManager(options.PluginDirectory, store, allocations, logs.CreateLogger("metagpu.kubelet"), options.KubeletPollInterval,
            options.IdleConnectionTimeout, options.Events, options.ContainerAdditions);
        await manager.RunAsync(stop).ConfigureAwait(false);
        await stopAll.CancelAsync().ConfigureAwait(false);
        if (companion is not null)
            await companion.DisposeAsync().ConfigureAwait(false);
        try
        {
            await healthPump.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
        log.LogInformation("stopped: streams closed, sockets removed");
        return 0;
    }

    private static void LogWarnings(ILogger log, SharingConfig config, SharePlan plan)
    {
        foreach (var w in config.Warnings)
            log.LogWarning("{Warning}", w);
        foreach (var w in plan.Warnings)
            log.LogWarning("{Warning}", w);
    }

    /// <summary>
    /// What is in force, in one event, so an operator sees from the log alone what the flags, the environment and the
    /// file added up to: the choices, the XIDs that do not count against a GPU, and which GPUs each resource took.
    /// </summary>
    private static void LogEffectiveConfig(ILogger log, string what, SharingConfig config, SharePlan plan)
    {
        var ignored = new List<ulong>(config.Health.ApplyTo(new GpuHealthOptions()).IgnoredXids);
        ignored.Sort();
        var parts = new List<string>(plan.Resources.Count);
        foreach (var r in plan.Resources)
        {
            var devices = 0;
            var gpus = new List<string>(r.Gpus.Count);
            foreach (var g in r.Gpus)
            {
                devices += Math.Max(0, g.MetaGpus);
                gpus.Add($"GPU {g.Index} ({g.Uuid}) x{g.MetaGpus}");
            }
            parts.Add($"{r.ResourceName} = {devices} meta-devices on " + (r.Gpus.Count == 0 ? "no GPU" : string.Join(", ", gpus)));
        }
        var resources = string.Join("; ", parts);
        log.LogInformation(
            "{What} (from {Source}): policy {Policy}, spanning {Spanning}, device-list strategy {DeviceListStrategy}, " +
            "ignored XIDs {IgnoredXids}, recovery after {RecoveryQuietPeriod} quiet, memory enforcement {Enforcement} (grace period {GracePeriod}); " +
            "resources: {Resources}",
            what, config.Source, ConfigChoices.Policy.NameOf(config.Policy), ConfigChoices.Spanning.NameOf(config.Spanning),
            ConfigChoices.DeviceListStrategy.NameOf(config.DeviceListStrategy), string.Join(",", ignored),
            Duration(config.Health.RecoveryQuietPeriod), ConfigChoices.Enforcement.NameOf(config.Memory.Enforcement),
            Duration(config.Memory.GracePeriod), resources);
    }

    private static string Duration(TimeSpan t) =>
        t == TimeSpan.Zero ? "0s"
        : t.Ticks % TimeSpan.TicksPerMinute == 0 ? $"{(long)t.TotalMinutes}m"
        : t.Ticks % TimeSpan.TicksPerSecond == 0 ? $"{(long)t.TotalSeconds}s"
        : $"{t.TotalMilliseconds:0.###}ms";

    private static async Task PumpHealthAsync(GpuHealthMonitor monitor, NodeStateStore store, CancellationToken stop)
    {
        var seen = store.Current.Health.Version; // the store's, not the monitor's: a change made before this line runs is not lost
        while (!stop.IsCancellationRequested)
        {
            var health = await monitor.WaitForChangeAsync(seen, stop).ConfigureAwait(false);
            seen = health.Version;
            store.Update(s => s with { Health = health });
        }
    }
}
