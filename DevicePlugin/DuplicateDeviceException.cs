namespace MetaGpu.DevicePlugin;

/// <summary>A device ID given twice in one request: the kubelet sends sets, so a duplicate is a malformed request.</summary>
public sealed class DuplicateDeviceException(string deviceId, string resourceName)
    : Exception($"'{deviceId}' occurs more than once in the request for {resourceName}")
{
    /// <summary>The repeated ID, as received.</summary>
    public string DeviceId { get; } = deviceId;

    public string ResourceName { get; } = resourceName;
}
