namespace MetaGpu.DevicePlugin.Config;

/// <summary>
/// Settings given on the command line or in the environment, raw as typed; null means "not given". They are validated
/// when applied (<see cref="SharingConfigLoader.Apply"/>), so the error can name the flag or variable.
/// <paramref name="IgnoreXids"/> and <paramref name="UnignoreXids"/> are comma-separated numbers; <paramref name="GracePeriod"/> a duration.
/// </summary>
public sealed record ConfigOverrides(
    string? Policy,
    string? Spanning,
    string? DeviceListStrategy,
    string? ResourceName,
    int? MetaGpus,
    string? IgnoreXids,
    string? UnignoreXids,
    string? Enforcement = null,
    string? GracePeriod = null)
{
    public static ConfigOverrides None { get; } = new(null, null, null, null, null, null, null);

    public bool IsEmpty => this == None;
}
