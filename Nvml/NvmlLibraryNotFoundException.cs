using MetaGpu.Nvml.Native;

namespace MetaGpu.Nvml;

/// <summary>
/// No NVML library could be loaded: usually a pod without the NVIDIA container runtime. When the file given is there but
/// is not NVML (a text file, another library), the message says that instead of "not found", with the reason.
/// </summary>
public sealed class NvmlLibraryNotFoundException(string libraryPath, Exception? innerException = null)
    : Exception(MessageFor(libraryPath, innerException), innerException)
{
    /// <summary>The file name or path that was tried.</summary>
    public string LibraryPath { get; } = libraryPath;

    /// <summary>The file is there and is not NVML, as opposed to not there at all.</summary>
    public bool IsNotNvml => InnerException is EntryPointNotFoundException or NotAnNvmlLibraryException;

    private static string MessageFor(string libraryPath, Exception? inner) => inner is EntryPointNotFoundException or NotAnNvmlLibraryException
        ? $"{inner.Message} Point --nvml-library (or METAGPU_NVML_LIBRARY) at libnvidia-ml.so.1, or leave it unset."
        : $"NVML library {libraryPath} not found: is the NVIDIA container runtime configured for this pod " +
          "(runtimeClassName: nvidia, or the nvidia runtime as default)? To try MetaGPU without a GPU, use --simulate 2.";
}
