namespace MetaGpu.DevicePlugin.Config;

/// <summary>
/// One extended resource and the GPUs it splits: each GPU becomes <paramref name="MetaGpus"/> meta-devices.
/// <paramref name="Gpus"/> is <c>["*"]</c> (every GPU no other resource names) or GPU UUIDs (<c>GPU-…</c>, <c>MIG-…</c>)
/// and/or indexes (<c>"0"</c>, <c>"3"</c>); what they resolve to is checked later, against the GPUs really present.
/// <paramref name="Line"/> is where the resource is defined in the file, 0 when it comes from the defaults.
/// </summary>
public sealed record ResourceSharing(string ResourceName, int MetaGpus, IReadOnlyList<string> Gpus, int Line)
{
    /// <summary>The original MetaGPU's resource name, so pods written for it keep working.</summary>
    public const string DefaultResourceName = "cnvrg.io/metagpu";

    public const int DefaultMetaGpus = 100;
    public const int MinMetaGpus = 1;

    /// <summary>Above this the kubelet's device lists (and ListAndWatch messages) grow for no practical gain.</summary>
    public const int MaxMetaGpus = 1000;

    /// <summary>The <see cref="Gpus"/> entry for "every GPU no other resource names".</summary>
    public const string AllGpus = "*";
}
