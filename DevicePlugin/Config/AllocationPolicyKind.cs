namespace MetaGpu.DevicePlugin.Config;

/// <summary>How <see cref="AllocationPolicy"/> places the fractional part of a request.</summary>
public enum AllocationPolicyKind
{
    /// <summary>Best fit: the GPU with the fewest free meta-devices that still holds the fraction, keeping whole GPUs free.</summary>
    Packed,

    /// <summary>The GPU with the most free meta-devices, spreading pods over the GPUs.</summary>
    Spread,
}
