using ConsoleAppFramework;
using MetaGpu.Control;
using MetaGpu.DevicePlugin;
using MetaGpu.DevicePlugin.Allocations;
using MetaGpu.DevicePlugin.Config;
using MetaGpu.Logging;
using MetaGpu.Primitives;
using MetaGpu.Usage;
using MetaGpu.Usage.Metrics;
using MetaGpu.Usage.PodResources;

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
          METAGPU_META_GPUS  METAGPU_IGNORE_XIDS  METAGPU_UNIGNORE_XIDS  METAGPU_IDLE_TIMEOUT  METAGPU_PROC_ROOT
          METAGPU_POD_RESOURCES_SOCKET  METAGPU_USAGE_INTERVAL  METAGPU_ENFORCEMENT  METAGPU_GRACE_PERIOD  METAGPU_METRICS_ADDRESS
          METAGPU_MGCTL_PATH
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
    /// <param name="procRoot">where other processes' /proc is read, to find which container a GPU process is in [env METAGPU_PROC_ROOT; default: /proc]</param>
    /// <param name="podResourcesSocket">the kubelet's pod-resources socket, which names the pod of each allocation [env METAGPU_POD_RESOURCES_SOCKET; default: /var/lib/kubelet/pod-resources/kubelet.sock]</param>
    /// <param name="usageInterval">how often GPU usage is read and memory enforcement applied, e.g. 1s; 0 turns usage off [env METAGPU_USAGE_INTERVAL; default: 1s]</param>
    /// <param name="enforcement">off|report|kill: what happens when an allocation uses more GPU memory than it was given [env METAGPU_ENFORCEMENT; default: report, or the config's memory.enforcement]</param>
    /// <param name="gracePeriod">in kill mode, how long an allocation may stay over its memory limit, e.g. 30s [env METAGPU_GRACE_PERIOD; default: 0s]</param>
    /// <param name="metricsAddress">where /metrics and /healthz are served: :PORT, IP:PORT, [IPv6]:PORT or off [env METAGPU_METRICS_ADDRESS; default: :9400]</param>
    /// <param name="mgctlPath">where each container sees mgctl (mounted read-only), an absolute path, or off [env METAGPU_MGCTL_PATH; default: /usr/local/bin/mgctl]</param>
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
        [HideDefaultValue] string? procRoot = null,
        [HideDefaultValue] string? podResourcesSocket = null,
        [HideDefaultValue] string? usageInterval = null,
        [HideDefaultValue] string? enforcement = null,
        [HideDefaultValue] string? gracePeriod = null,
        [HideDefaultValue] string? metricsAddress = null,
        [HideDefaultValue] string? mgctlPath = null,
        [HideDefaultValue] string? logFormat = null) => CommandErrors.Guard(Info.Name, () =>
    {
        var format = LogSettings.Format(logFormat);
        var options = new PluginDaemonOptions
        {
            ConfigPath = Setting.Of(config, "--config", "METAGPU_CONFIG").Value,
            PluginDirectory = Setting.Of(kubeletDir, "--kubelet-dir", "METAGPU_KUBELET_DIR").Value ?? PluginDaemonOptions.DefaultPluginDirectory,
            StateDirectory = StateDirectory(Setting.Of(stateDir, "--state-dir", "METAGPU_STATE_DIR")),
            Flags = new ConfigOverrides(policy, spanning, deviceListStrategy, resourceName, MetaGpus(metaGpus), ignoreXids, unignoreXids, enforcement, gracePeriod),
            IdleConnectionTimeout = IdleTimeout(Setting.Of(idleTimeout, "--idle-timeout", "METAGPU_IDLE_TIMEOUT")),
        };
        CheckOverrides(options);
        var usage = new UsageOptions
        {
            ProcRoot = NonEmptyPath(Setting.Of(procRoot, "--proc-root", "METAGPU_PROC_ROOT"), "/proc"),
            PodResourcesSocket = NonEmptyPath(Setting.Of(podResourcesSocket, "--pod-resources-socket", "METAGPU_POD_RESOURCES_SOCKET"), PodResourcesClient.DefaultSocketPath),
            Interval = UsageInterval(Setting.Of(usageInterval, "--usage-interval", "METAGPU_USAGE_INTERVAL")),
            Metrics = Metrics(Setting.Of(metricsAddress, "--metrics-address", "METAGPU_METRICS_ADDRESS")),
        };
        var control = new ControlOptions
        {
            ContainerBinary = MgctlPath(Setting.Of(mgctlPath, "--mgctl-path", "METAGPU_MGCTL_PATH")),
            // Only the native binary is mgctl; under a .NET host (tests) there is nothing to install.
            Executable = System.Runtime.CompilerServices.RuntimeFeature.IsDynamicCodeSupported ? null : Environment.ProcessPath,
            ProcRoot = usage.ProcRoot,
        };

        using var backend = GpuBackendSettings.Open(Info.Name, simulate, nvmlLibrary, sysfsRoot, out var exitCode);
        if (backend is null)
            return exitCode;
        using var logs = ConsoleLogs.Create(format);
        var counters = new DaemonCounters();
        var additions = new ContainerAdditions();
        // mgctl is installed, and usage first refreshed, after the first registration: copying the binary and reading
        // NVML, /proc and pod-resources must not compete with registering.
        var registered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        control = control with { InstallAfter = registered.Task };
        usage = usage with { FirstRefreshAfter = registered.Task };
        options = options with
        {
            Events = new PluginEvents
            {
                Registered = resource =>
                {
                    counters.Registered(resource);
                    registered.TrySetResult();
                },
                CallFinished = counters.RpcFinished,
            },
            Companion = node => DaemonCompanions.Start(node, usage, control, counters, additions, logs),
            ContainerAdditions = additions,
        };
        using var signals = new StopSignals();
        // Once started, the file pages that only starting touched are given back (Primitives/StartupPages).
        _ = StartupPages.ReleaseAfterAsync(registered.Task, StartupPages.AfterRegistration, signals.Token);
        return PluginDaemon.RunAsync(backend, options, logs, signals.Token).GetAwaiter().GetResult();
    });

    private static string? MgctlPath(Setting setting) => setting.Value switch
    {
        null => MgctlInstall.DefaultContainerBinary,
        "off" => null,
        { Length: 0 } => throw setting.Invalid($"an empty path; give an absolute path in the container, e.g. {MgctlInstall.DefaultContainerBinary}, or off"),
        var path when !path.StartsWith('/') || path.EndsWith('/') || Array.Exists(path.Split('/'), p => p is "." or "..") =>
            throw setting.Invalid($"'{path}' is not an absolute file path in the container, e.g. {MgctlInstall.DefaultContainerBinary}"),
        var path when path == MgctlInstall.ContainerRunDirectory || path.StartsWith(MgctlInstall.ContainerRunDirectory + "/", StringComparison.Ordinal) =>
            throw setting.Invalid($"'{path}' is inside {MgctlInstall.ContainerRunDirectory}, where the control socket's directory is mounted"),
        var path => path,
    };

    private static string NonEmptyPath(Setting setting, string fallback) => setting.Value switch
    {
        null => fallback,
        { Length: 0 } => throw setting.Invalid($"an empty path; the default is {fallback}"),
        var path => path,
    };

    private static TimeSpan UsageInterval(Setting setting)
    {
        if (setting.Value is null)
            return UsageOptions.DefaultInterval;
        if (!GoDuration.TryParse(setting.Value, out var t) || t < TimeSpan.Zero)
            throw setting.Invalid((setting.Source.StartsWith('-') ? $"'{setting.Value}' is " : "") + $"not a duration ({GoDuration.Examples}; 0 turns usage off)");
        if (t > TimeSpan.Zero && t < MinUsageInterval)
            throw setting.Invalid($"{setting.Value} is too short: at least {MinUsageInterval.TotalMilliseconds:0} ms (each refresh reads NVML and /proc)");
        return t;
    }

    private static readonly TimeSpan MinUsageInterval = TimeSpan.FromMilliseconds(100);

    private static MetricsAddress Metrics(Setting setting)
    {
        if (setting.Value is null)
            return MetricsAddress.Default;
        try
        {
            return MetricsAddress.Parse(setting.Value);
        }
        catch (FormatException e)
        {
            throw setting.Invalid(e.Message);
        }
    }

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
