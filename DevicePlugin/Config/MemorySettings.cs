namespace MetaGpu.DevicePlugin.Config;

/// <summary>
/// What happens when an allocation's processes use more GPU memory than it was given. YAML (section <c>memory</c>,
/// key <c>enforcement</c>): <c>off</c> | <c>report</c> | <c>kill</c>.
/// </summary>
public enum EnforcementMode
{
    /// <summary>Nothing: usage is measured and shown, never judged.</summary>
    Off,

    /// <summary>One warning when an allocation goes over its limit, and a counter (the default).</summary>
    Report,

    /// <summary>Report, then after the grace period SIGKILL the allocation's largest process until it is under its limit.</summary>
    Kill,
}

/// <summary>Memory enforcement: the mode and how long an allocation may stay over its limit before a kill.</summary>
public sealed record MemorySettings(EnforcementMode Enforcement, TimeSpan GracePeriod)
{
    public static MemorySettings Default { get; } = new(EnforcementMode.Report, TimeSpan.Zero);
}
