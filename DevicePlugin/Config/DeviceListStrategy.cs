namespace MetaGpu.DevicePlugin.Config;

/// <summary>
/// How the allocated GPUs reach the container, the same choices as NVIDIA's device plugin.
/// YAML: <c>envvar</c> | <c>cdi-cri</c> | <c>cdi-annotations</c>.
/// </summary>
public enum DeviceListStrategy
{
    /// <summary><c>NVIDIA_VISIBLE_DEVICES</c> for the NVIDIA container runtime.</summary>
    EnvVar,

    /// <summary>CDI device names in the CRI <c>CDIDevices</c> field (containerd 1.7+, CRI-O).</summary>
    CdiCri,

    /// <summary>CDI device names in container annotations, for runtimes that read CDI only from there.</summary>
    CdiAnnotations,
}
