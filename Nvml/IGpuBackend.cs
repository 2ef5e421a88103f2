namespace MetaGpu.Nvml;

/// <summary>
/// Where GPU facts come from: NVML (<see cref="NvmlBackend"/>) or simulated GPUs (<see cref="SimulatedBackend"/>).
/// Both behave the same way, so everything above runs unchanged on a machine without a GPU.
/// Calls are thread-safe.
/// </summary>
public interface IGpuBackend : IDisposable
{
    /// <summary><c>nvml</c> or <c>simulated</c>.</summary>
    string Kind { get; }

    /// <summary>Driver, CUDA version and every GPU with every field. Optional fields the driver does not support are null.</summary>
    GpuInventory GetInventory();

    /// <summary>Compute and graphics processes on one GPU.</summary>
    IReadOnlyList<GpuProcess> GetProcesses(string uuid);

    /// <summary>Per-process utilisation samples newer than <paramref name="sinceTimestampMicroseconds"/>; empty when unsupported.</summary>
    IReadOnlyList<ProcessUtilizationSample> GetProcessUtilization(string uuid, ulong sinceTimestampMicroseconds);

    /// <summary>
    /// Registers for critical events (XID errors, double-bit ECC) on every GPU. Each GPU that cannot register is
    /// reported in <see cref="IGpuEventWatcher.RegistrationFailures"/> rather than failing the whole watcher.
    /// </summary>
    IGpuEventWatcher WatchEvents();

    /// <summary>A cheap query that succeeds only when the GPU answers (used before declaring it healthy again).</summary>
    void Probe(string uuid);
}

/// <summary>An NVML event set (or its simulation). Used from one thread.</summary>
public interface IGpuEventWatcher : IDisposable
{
    /// <summary>UUID → why events could not be registered for that GPU: it cannot be vouched for, so it counts as unhealthy.</summary>
    IReadOnlyDictionary<string, string> RegistrationFailures { get; }

    /// <summary>
    /// UUID → why the GPU offers no health events at all (NOT_SUPPORTED, e.g. older or virtual GPUs). Such a GPU stays
    /// usable without event-based health checks, as NVIDIA's own plugin does; the daemon logs it once.
    /// </summary>
    IReadOnlyDictionary<string, string> Unwatched => EmptyUnwatched;

    private static readonly IReadOnlyDictionary<string, string> EmptyUnwatched = new Dictionary<string, string>();

    /// <summary>The next event, or null when none came within <paramref name="timeout"/>. Throws <see cref="GpuBackendException"/> when the wait itself fails.</summary>
    GpuEvent? Wait(TimeSpan timeout);
}
