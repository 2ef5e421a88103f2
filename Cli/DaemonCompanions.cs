using MetaGpu.Control;
using MetaGpu.DevicePlugin;
using MetaGpu.Primitives;
using MetaGpu.Usage;
using MetaGpu.Usage.Metrics;
using MetaGpu.Usage.Workload;
using Microsoft.Extensions.Logging;

namespace MetaGpu.Cli;

/// <summary>
/// What runs beside the device plugin in <c>metagpu start</c>: the usage monitor (and metrics), then the control
/// API, which answers from the usage monitor's view. Stopped in the reverse order.
/// </summary>
internal sealed class DaemonCompanions : IAsyncDisposable
{
    private readonly UsageDaemon _usage;
    private readonly ControlDaemon _control;

    private DaemonCompanions(UsageDaemon usage, ControlDaemon control)
    {
        _usage = usage;
        _control = control;
    }

    public static DaemonCompanions Start(PluginNode node, UsageOptions usage, ControlOptions control, DaemonCounters counters,
        ContainerAdditions additions, ILoggerFactory logs)
    {
        var usageDaemon = UsageDaemon.Start(node, usage, counters, logs);
        try
        {
            // With usage off there is no refresh: the control API still says who calls and what was allocated.
            var view = usageDaemon.Watcher?.View ?? new VersionedSnapshot<WorkloadView>(WorkloadView.Empty);
            return new DaemonCompanions(usageDaemon, ControlDaemon.Start(node, view, additions, control, logs));
        }
        catch
        {
            usageDaemon.DisposeAsync().AsTask().GetAwaiter().GetResult();
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _control.DisposeAsync().ConfigureAwait(false);
        await _usage.DisposeAsync().ConfigureAwait(false);
    }
}
