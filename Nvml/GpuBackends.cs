namespace MetaGpu.Nvml;

/// <summary>Chooses the backend from the command line: simulated GPUs when asked, else NVML.</summary>
public static class GpuBackends
{
    public const string LibraryVariable = "METAGPU_NVML_LIBRARY";
    public const string SysfsVariable = "METAGPU_SYSFS_ROOT";

    /// <summary>
    /// <paramref name="simulate"/> (e.g. <c>2</c> or <c>2xA100,T4</c>) selects simulated GPUs; otherwise NVML from
    /// <paramref name="nvmlLibrary"/>, else <c>METAGPU_NVML_LIBRARY</c>, else <c>libnvidia-ml.so.1</c>.
    /// </summary>
    public static IGpuBackend Open(string? simulate, string? nvmlLibrary, string? sysfsRoot)
    {
        if (simulate is not null)
            return SimulatedBackend.Parse(simulate);
        var library = nvmlLibrary ?? Environment.GetEnvironmentVariable(LibraryVariable);
        var sysfs = sysfsRoot ?? Environment.GetEnvironmentVariable(SysfsVariable) ?? "/sys";
        return NvmlBackend.Open(string.IsNullOrEmpty(library) ? null : library, sysfs);
    }
}
