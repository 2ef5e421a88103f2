namespace MetaGpu.Nvml;

/// <summary>How health events are judged.</summary>
public sealed record GpuHealthOptions
{
    /// <summary>XIDs caused by applications, not the GPU (NVIDIA's device plugin ignores the same set).</summary>
    public static readonly IReadOnlySet<ulong> DefaultIgnoredXids = new HashSet<ulong> { 13, 31, 43, 45, 68, 109 };

    /// <summary>XIDs that never count against a GPU's health.</summary>
    public IReadOnlySet<ulong> IgnoredXids { get; init; } = DefaultIgnoredXids;

    /// <summary>How long a GPU must stay quiet (no critical event, queries succeeding) before it is healthy again.</summary>
    public TimeSpan RecoveryQuietPeriod { get; init; } = TimeSpan.FromMinutes(2);

    /// <summary>
    /// The bound on one event wait (one <c>nvmlEventSetWait_v2</c>), and so on how long a stop waits: NVML's wait
    /// cannot be interrupted, and the daemon shuts NVML down only after the wait in progress has returned. Also how
    /// often recoveries and the probe's time are checked. At 100 ms a stop is prompt (it was 1 s, and a restarted
    /// daemon's pod waited up to that long) for ten waits a second, each a poll of the driver's event descriptor.
    /// </summary>
    public TimeSpan EventWaitTimeout { get; init; } = TimeSpan.FromMilliseconds(100);

    /// <summary>
    /// How long to wait before setting up the event machinery again after it failed, and the first back-off before
    /// registering events again for GPUs whose registration failed (doubling up to twelve times this).
    /// </summary>
    public TimeSpan RetryDelay { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// How often every healthy GPU is asked a cheap query (its memory info): a GPU can fall off the bus without any
    /// event, and then only a query that fails (NVML_ERROR_GPU_IS_LOST) tells.
    /// </summary>
    public TimeSpan ProbeInterval { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>The default set with <paramref name="add"/> added and <paramref name="remove"/> taken out (e.g. from config or flags).</summary>
    public GpuHealthOptions WithXids(IEnumerable<ulong>? add, IEnumerable<ulong>? remove)
    {
        var set = new HashSet<ulong>(IgnoredXids);
        if (add is not null)
            set.UnionWith(add);
        if (remove is not null)
            set.ExceptWith(remove);
        return this with { IgnoredXids = set };
    }
}
