namespace MetaGpu.DevicePlugin.Config;

/// <summary>
/// What to do when a fraction that would fit on one GPU was given meta-devices of several (the kubelet may do so when it
/// ignores the preferred allocation). YAML: <c>allow</c> | <c>reject</c>.
/// </summary>
public enum SpanningMode
{
    /// <summary>Accept it and log a warning: the pod runs, with its share split across GPUs.</summary>
    Allow,

    /// <summary>Fail the allocation, so the pod is retried rather than run on a split share.</summary>
    Reject,
}
