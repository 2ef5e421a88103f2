namespace MetaGpu.DevicePlugin;

/// <summary>
/// A device ID that is not a meta-device of the resource: unparseable, not spelled the way the plugin advertises it,
/// an unknown GPU UUID, a share index outside the GPU's meta-devices, or a GPU index that is not the UUID's GPU.
/// </summary>
public sealed class UnknownDeviceException(string deviceId, string resourceName)
    : Exception($"'{deviceId}' is not a device of {resourceName}")
{
    /// <summary>The offending ID, as received.</summary>
    public string DeviceId { get; } = deviceId;

    public string ResourceName { get; } = resourceName;
}
