namespace MetaGpu.DevicePlugin.Config;

/// <summary>
/// Keys of the original MetaGPU's config that no longer mean anything. They are accepted with a warning, not refused,
/// so an existing ConfigMap keeps working when the daemon is replaced.
/// </summary>
internal static class LegacyKeys
{
    private static readonly string[] Obsolete =
    [
        "accelerator", "processesDiscoveryPeriod", "deviceCacheTTL", "mgctlTar", "mgctlAutoInject", "mgctlMount",
        "mgctlMountHostPath", "mgctlMountContainertPath", "serverAddr", "memoryEnforcer", "autoReshare",
    ];

    /// <summary>The original shared these between daemon and containers. The warning never shows their value.</summary>
    private static readonly string[] Secrets = ["jwtSecret", "deviceToken", "containerToken"];

    public static readonly IReadOnlyDictionary<string, string> TopLevel = Build([.. Obsolete, .. Secrets]);

    /// <summary>Inside a <c>deviceSharing</c> entry.</summary>
    public static readonly IReadOnlyDictionary<string, string> InDeviceSharing = Build(["autoReshare"]);

    private static Dictionary<string, string> Build(string[] keys)
    {
        var warnings = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var k in keys)
        {
            warnings[k] = Secrets.Contains(k)
                ? $"{k} is ignored: MetaGPU no longer uses shared tokens; remove it from the ConfigMap"
                : $"{k} is a setting of the original MetaGPU that this version does not use; it is ignored";
        }
        return warnings;
    }
}
