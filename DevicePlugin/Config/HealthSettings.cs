using MetaGpu.Nvml;

namespace MetaGpu.DevicePlugin.Config;

/// <summary>
/// Changes to how GPU health is judged: XIDs added to (<paramref name="IgnoreXids"/>) and removed from
/// (<paramref name="UnignoreXids"/>) the default ignored set {13, 31, 43, 45, 68, 109}, and how long a GPU must stay
/// quiet before it counts as healthy again.
/// </summary>
public sealed record HealthSettings(IReadOnlyList<ulong> IgnoreXids, IReadOnlyList<ulong> UnignoreXids, TimeSpan RecoveryQuietPeriod)
{
    public static readonly TimeSpan DefaultRecoveryQuietPeriod = TimeSpan.FromMinutes(2);

    public static HealthSettings Default { get; } = new([], [], DefaultRecoveryQuietPeriod);

    /// <summary>These settings applied to <paramref name="options"/> (whose other fields are kept).</summary>
    public GpuHealthOptions ApplyTo(GpuHealthOptions options) =>
        options.WithXids(IgnoreXids, UnignoreXids) with { RecoveryQuietPeriod = RecoveryQuietPeriod };
}
