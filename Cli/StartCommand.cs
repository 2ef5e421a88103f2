using ConsoleAppFramework;
using MetaGpu.DevicePlugin;
using MetaGpu.DevicePlugin.Allocations;
using MetaGpu.DevicePlugin.Config;
using MetaGpu.Logging;

namespace MetaGpu.Cli;

/// <summary>
/// <c>metagpu start</c>: the device-plugin daemon. A flag is a parameter of <see cref="Run"/> with its <c>param</c> line
/// (the help text) and its place in <see cref="PluginDaemonOptions"/>. Every value is checked before anything starts,
/// so a typo is exit 2 naming the flag or variable, not a daemon that fails later.
/// </summary>
public sealed class StartCommand
{
    public static readonly CommandInfo Info = new("start", HasLogFormat: true, Notes: $"""
        Environment: each flag above has a variable; the flag wins over its variable, both over the config file.
          METAGPU_CONFIG  METAGPU_KUBELET_DIR  METAGPU_STATE_DIR  METAGPU_LOG_FORMAT  METAGPU_SIMULATE  METAGPU_NVML_LIBRARY
          METAGPU_SYSFS_ROOT  METAGPU_POLICY  METAGPU_SPANNING  METAGPU_DEVICE_LIST_STRATEGY  METAGPU_RESOURCE_NAME
          METAGPU_META_GPUS  METAGPU_IGNORE_XIDS  METAGPU_UNIGNORE_XIDS  METAGPU_IDLE_TIMEOUT
        The config file is re-read when it changes; the effective configuration is logged at start and on each change.
        {StopSignals.Help}

        {ExitCodes.Help(
            (ExitCodes.Ok, "stopped by a signal"),
            (ExitCodes.Failure, "could not start: invalid config file, no plugin directory, state directory not writable, NVML failed"),
            (ExitCodes.Usage, "unknown option, stray argument, invalid flag or METAGPU_* value"),
            (ExitCodes.NoNvml, "no NVML library, or the file is not NVML (see --nvml-library; try --simulate 2)"))}
        """);

    /// <summary>run the device plugin on this node until SIGTERM, SIGINT or SIGHUP</summary>
    /// <param name="config">the sharing config file [env METAGPU_CONFIG; default: none, every GPU as 100 cnvrg.io/metagpu]</param>
    /// <param name="kubeletDir">the kubelet's device-plugin directory [env METAGPU_KUBELET_DIR; default: /var/lib/kubelet/device-plugins]</param>
    /// <param name="stateDir">where each container's allocation file is written, to be mounted read-only into it [env METAGPU_STATE_DIR; default: /var/lib/metagpu]</param>
    /// <param name="simulate">simulated GPUs instead of NVML: a count or models, e.g. 2 or 2xA100,T4 [env METAGPU_SIMULATE]</param>
    /// <param name="nvmlLibrary">the NVML library to load [env METAGPU_NVML_LIBRARY; default: libnvidia-ml.so.1 on the loader's path]</param>
    /// <param name="sysfsRoot">where the GPUs' PCI devices are read (NUMA nodes) [env METAGPU_SYSFS_ROOT; default: /sys]</param>
    /// <param name="policy">packed|spread: which meta-devices a pod gets [env METAGPU_POLICY; default: packed]</param>
    /// <param name="spanning">allow|reject: may a request span GPUs [env METAGPU_SPANNING; default: allow]</param>
    /// <param name="deviceListStrategy">envvar|cdi-cri|cdi-annotations: how a container is given its GPUs [env METAGPU_DEVICE_LIST_STRATEGY; default: envvar]</param>
    /// <param name="resourceName">the resource name, when the config has one resource [env METAGPU_RESOURCE_NAME; default: cnvrg.io/metagpu]</param>
    /// <param name="metaGpus">meta-devices per GPU, 1..1000, when the config has one resource [env METAGPU_META_GPUS; default: 100]</param>
    /// <param name="ignoreXids">XIDs added to the ignored set, e.g. 48,79 [env METAGPU_IGNORE_XIDS; default set: 13,31,43,45,68,109]</param>
    /// <param name="unignoreXids">XIDs taken out of the ignored set, e.g. 13 [env METAGPU_UNIGNORE_XIDS]</param>
    /// <param name="idleTimeout">close a connection to our sockets that has had no open call this long, e.g. 5m; 0 never (a ListAndWatch stream is never cut) [env METAGPU_IDLE_TIMEOUT; default: 5m]</param>
    /// <param name="logFormat">text|systemd|json, on standard error [env METAGPU_LOG_FORMAT; default: text]</param>
    [Command("start")]
    public int Run(
        [HideDefaultValue] string? config = null,
        [HideDefaultValue] string? kubeletDir = null,
        [HideDefaultValue] string? stateDir = null,
        [HideDefaultValue] string? simulate = null,
        [HideDefaultValue] string? nvmlLibrary = null,
        [HideDefaultValue] string? sysfsRoot = null,
        [HideDefaultValue] string? policy = null,
        [HideDefaultValue] string? spanning = null,
        [HideDefaultValue] string? deviceListStrategy = null,
        [HideDefaultValue] string? resourceName = null,
        [HideDefaultValue] string? metaGpus = null,
        [HideDefaultValue] string? ignoreXids = null,
        [HideDefaultValue] string? unignoreXids = null,
        [HideDefaultValue] string? idleTimeout = null,
        [HideDefaultValue] string? logFormat = null) => CommandErrors.Guard(Info.Name, () =>
    {
        var format = LogSettings.Format(logFormat);
        var options = new PluginDaemonOptions
        {
            ConfigPath = Setting.Of(config, "--config", "METAGPU_CONFIG").Value,
            PluginDirectory = Setting.Of(kubeletDir, "--kubelet-dir", "METAGPU_KUBELET_DIR").Value ?? PluginDaemonOptions.DefaultPluginDirectory,
            StateDirectory = StateDirectory(Setting.Of(stateDir, "--state-dir", "METAGPU_STATE_DIR")),
            Flags = new ConfigOverrides(policy, spanning, deviceListStrategy, resourceName, MetaGpus(metaGpus), ignoreXids, unignoreXids),
            IdleConnectionTimeout = IdleTimeout(Setting.Of(idleTimeout, "--idle-timeout", "METAGPU_IDLE_TIMEOUT")),
        };
        CheckOverrides(options);

        using var backend = GpuBackendSettings.Open(Info.Name, simulate, nvmlLibrary, sysfsRoot, out var exitCode);
        if (backend is null)
            return exitCode;
        using var logs = ConsoleLogs.Create(format);
        using var signals = new StopSignals();
        return PluginDaemon.RunAsync(backend, options, logs, signals.Token).GetAwaiter().GetResult();
    });

    private static string StateDirectory(Setting setting) => setting.Value switch
    {
        null => AllocationFiles.DefaultStateDirectory,
        { Length: 0 } => throw setting.Invalid($"an empty path; give a directory, e.g. {AllocationFiles.DefaultStateDirectory}"),
        var path => path,
    };

    private static TimeSpan IdleTimeout(Setting setting)
    {
        if (setting.Value is null)
            return PluginDaemonOptions.DefaultIdleConnectionTimeout;
        if (!GoDuration.TryParse(setting.Value, out var t) || t < TimeSpan.Zero)
            throw setting.Invalid((setting.Source.StartsWith('-') ? $"'{setting.Value}' is " : "") + $"not a duration ({GoDuration.Examples}; 0 never closes idle connections)");
        return t == TimeSpan.Zero ? Timeout.InfiniteTimeSpan : t;
    }

    private static int? MetaGpus(string? raw)
    {
        if (raw is null)
            return null;
        return ConfigValues.TryParseInt(raw, out var n) ? n : throw new UsageException($"--meta-gpus: {ConfigValues.MetaGpusNotAnInteger($"'{raw}'")}");
    }

    /// <summary>
    /// The flags' and the environment's values checked as the daemon will apply them, each on its own (so the error
    /// names its source), on a one-resource config: what depends on the file itself is checked when it is loaded.
    /// </summary>
    private static void CheckOverrides(PluginDaemonOptions options)
    {
        try
        {
            SharingConfigLoader.Apply(SharingConfig.Default, options.Flags, SharingConfigLoader.FlagsSource);
            SharingConfigLoader.Apply(SharingConfig.Default, SharingConfigLoader.FromEnvironment(options.GetEnvironment), SharingConfigLoader.EnvironmentSource);
        }
        catch (ConfigException e)
        {
            throw new UsageException(e.Message);
        }
    }
}
