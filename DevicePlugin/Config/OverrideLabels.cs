namespace MetaGpu.DevicePlugin.Config;

/// <summary>
/// What each override is called where it was given, so an error names the exact flag or variable to fix.
/// </summary>
internal sealed class OverrideLabels(
    string policy, string spanning, string deviceListStrategy, string resourceName, string metaGpus, string ignoreXids, string unignoreXids,
    string enforcement, string gracePeriod)
{
    public string Policy { get; } = policy;
    public string Spanning { get; } = spanning;
    public string DeviceListStrategy { get; } = deviceListStrategy;
    public string ResourceName { get; } = resourceName;
    public string MetaGpus { get; } = metaGpus;
    public string IgnoreXids { get; } = ignoreXids;
    public string UnignoreXids { get; } = unignoreXids;
    public string Enforcement { get; } = enforcement;
    public string GracePeriod { get; } = gracePeriod;

    public static readonly OverrideLabels Environment = new(
        "METAGPU_POLICY", "METAGPU_SPANNING", "METAGPU_DEVICE_LIST_STRATEGY", "METAGPU_RESOURCE_NAME", "METAGPU_META_GPUS",
        "METAGPU_IGNORE_XIDS", "METAGPU_UNIGNORE_XIDS", "METAGPU_ENFORCEMENT", "METAGPU_GRACE_PERIOD");

    public static readonly OverrideLabels Flags = new(
        "--policy", "--spanning", "--device-list-strategy", "--resource-name", "--meta-gpus", "--ignore-xids", "--unignore-xids", "--enforcement", "--grace-period");

    /// <summary>The labels for <see cref="SharingConfigLoader.EnvironmentSource"/>, <see cref="SharingConfigLoader.FlagsSource"/>, or a generic form.</summary>
    public static OverrideLabels For(string sourceName) => sourceName switch
    {
        SharingConfigLoader.EnvironmentSource => Environment,
        SharingConfigLoader.FlagsSource => Flags,
        _ => new($"{sourceName} policy", $"{sourceName} spanning", $"{sourceName} deviceListStrategy", $"{sourceName} resourceName",
            $"{sourceName} metaGpus", $"{sourceName} ignoreXids", $"{sourceName} unignoreXids", $"{sourceName} enforcement",
            $"{sourceName} gracePeriod"),
    };
}
