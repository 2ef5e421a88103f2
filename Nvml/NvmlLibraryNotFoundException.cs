namespace MetaGpu.Nvml;

/// <summary>The NVML library could not be loaded (or is no NVML): usually a pod without the NVIDIA container runtime.</summary>
public sealed class NvmlLibraryNotFoundException(string libraryPath, Exception? innerException = null)
    : Exception(
        $"NVML library {libraryPath} not found: is the NVIDIA container runtime configured for this pod " +
        "(runtimeClassName: nvidia, or the nvidia runtime as default)? To try MetaGPU without a GPU, use --simulate 2.",
        innerException)
{
    /// <summary>The file name or path that was tried.</summary>
    public string LibraryPath { get; } = libraryPath;
}
