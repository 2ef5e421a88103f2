namespace MetaGpu.DevicePlugin.Config;

/// <summary>How meta-devices are chosen when the kubelet asks for a preferred allocation. YAML: <c>packed</c> | <c>spread</c>.</summary>
public enum AllocationPolicyKind
{
    /// <summary>Best fit: fill the GPU with the least room left that still fits, so whole GPUs stay free for big requests.</summary>
    Packed,

    /// <summary>Put each request on the emptiest GPU, so neighbours share less memory bandwidth.</summary>
    Spread,
}
