using System.Runtime.InteropServices;

namespace MetaGpu.Nvml.Native;

/// <summary>
/// The NVML entry points MetaGPU calls, with nvml.h's signatures (the versioned symbols current drivers export).
/// Every call returns an nvmlReturn_t (<see cref="NvmlReturn"/>). Strings go in and out as caller-owned byte buffers;
/// device handles and event sets are opaque pointers. The library is found by <see cref="NvmlLibrary"/>.
/// </summary>
internal static unsafe partial class NvmlNative
{
    /// <summary>The name every import uses; <see cref="NvmlLibrary"/> resolves it to the file actually loaded.</summary>
    internal const string Library = "nvidia-ml";

    [LibraryImport(Library, EntryPoint = "nvmlInit_v2")]
    internal static partial int Init();

    [LibraryImport(Library, EntryPoint = "nvmlShutdown")]
    internal static partial int Shutdown();

    /// <summary>A static string owned by the library (never freed).</summary>
    [LibraryImport(Library, EntryPoint = "nvmlErrorString")]
    internal static partial byte* ErrorString(int result);

    [LibraryImport(Library, EntryPoint = "nvmlSystemGetDriverVersion")]
    internal static partial int SystemGetDriverVersion(byte* version, uint length);

    /// <summary>The CUDA version the driver supports as 1000 × major + 10 × minor (12040 is 12.4).</summary>
    [LibraryImport(Library, EntryPoint = "nvmlSystemGetCudaDriverVersion_v2")]
    internal static partial int SystemGetCudaDriverVersion(int* cudaDriverVersion);

    [LibraryImport(Library, EntryPoint = "nvmlDeviceGetCount_v2")]
    internal static partial int DeviceGetCount(uint* deviceCount);

    [LibraryImport(Library, EntryPoint = "nvmlDeviceGetHandleByIndex_v2")]
    internal static partial int DeviceGetHandleByIndex(uint index, nint* device);

    /// <summary><paramref name="uuid"/> is NUL-terminated UTF-8.</summary>
    [LibraryImport(Library, EntryPoint = "nvmlDeviceGetHandleByUUID")]
    internal static partial int DeviceGetHandleByUuid(byte* uuid, nint* device);

    [LibraryImport(Library, EntryPoint = "nvmlDeviceGetUUID")]
    internal static partial int DeviceGetUuid(nint device, byte* uuid, uint length);

    [LibraryImport(Library, EntryPoint = "nvmlDeviceGetName")]
    internal static partial int DeviceGetName(nint device, byte* name, uint length);

    [LibraryImport(Library, EntryPoint = "nvmlDeviceGetIndex")]
    internal static partial int DeviceGetIndex(nint device, uint* index);

    [LibraryImport(Library, EntryPoint = "nvmlDeviceGetMinorNumber")]
    internal static partial int DeviceGetMinorNumber(nint device, uint* minorNumber);

    [LibraryImport(Library, EntryPoint = "nvmlDeviceGetMemoryInfo")]
    internal static partial int DeviceGetMemoryInfo(nint device, NvmlMemory* memory);

    [LibraryImport(Library, EntryPoint = "nvmlDeviceGetPciInfo_v3")]
    internal static partial int DeviceGetPciInfo(nint device, NvmlPciInfo* pci);

    [LibraryImport(Library, EntryPoint = "nvmlDeviceGetUtilizationRates")]
    internal static partial int DeviceGetUtilizationRates(nint device, NvmlUtilization* utilization);

    /// <summary><paramref name="mode"/> receives an nvmlComputeMode_t (see <see cref="NvmlConstants"/>).</summary>
    [LibraryImport(Library, EntryPoint = "nvmlDeviceGetComputeMode")]
    internal static partial int DeviceGetComputeMode(nint device, int* mode);

    [LibraryImport(Library, EntryPoint = "nvmlDeviceGetMigMode")]
    internal static partial int DeviceGetMigMode(nint device, uint* currentMode, uint* pendingMode);

    /// <summary>Count in (capacity of <paramref name="infos"/>), count out; NVML_ERROR_INSUFFICIENT_SIZE with the count needed when too small.</summary>
    [LibraryImport(Library, EntryPoint = "nvmlDeviceGetComputeRunningProcesses_v3")]
    internal static partial int DeviceGetComputeRunningProcesses(nint device, uint* infoCount, NvmlProcessInfo* infos);

    /// <summary>As <see cref="DeviceGetComputeRunningProcesses"/>, for graphics contexts.</summary>
    [LibraryImport(Library, EntryPoint = "nvmlDeviceGetGraphicsRunningProcesses_v3")]
    internal static partial int DeviceGetGraphicsRunningProcesses(nint device, uint* infoCount, NvmlProcessInfo* infos);

    /// <summary>
    /// Samples newer than <paramref name="lastSeenTimeStamp"/> (µs). Called with a null buffer it sets the count;
    /// NVML_ERROR_NOT_FOUND means no samples.
    /// </summary>
    [LibraryImport(Library, EntryPoint = "nvmlDeviceGetProcessUtilization")]
    internal static partial int DeviceGetProcessUtilization(nint device, NvmlProcessUtilizationSample* utilization, uint* processSamplesCount, ulong lastSeenTimeStamp);

    /// <summary><paramref name="sensorType"/> is an nvmlTemperatureSensors_t (<see cref="NvmlConstants.TemperatureGpu"/>).</summary>
    [LibraryImport(Library, EntryPoint = "nvmlDeviceGetTemperature")]
    internal static partial int DeviceGetTemperature(nint device, int sensorType, uint* temp);

    /// <summary>Milliwatts.</summary>
    [LibraryImport(Library, EntryPoint = "nvmlDeviceGetPowerUsage")]
    internal static partial int DeviceGetPowerUsage(nint device, uint* power);

    [LibraryImport(Library, EntryPoint = "nvmlEventSetCreate")]
    internal static partial int EventSetCreate(nint* set);

    [LibraryImport(Library, EntryPoint = "nvmlDeviceGetSupportedEventTypes")]
    internal static partial int DeviceGetSupportedEventTypes(nint device, ulong* eventTypes);

    [LibraryImport(Library, EntryPoint = "nvmlDeviceRegisterEvents")]
    internal static partial int DeviceRegisterEvents(nint device, ulong eventTypes, nint set);

    /// <summary>Blocks up to <paramref name="timeoutMs"/>; NVML_ERROR_TIMEOUT when nothing came.</summary>
    [LibraryImport(Library, EntryPoint = "nvmlEventSetWait_v2")]
    internal static partial int EventSetWait(nint set, NvmlEventData* data, uint timeoutMs);

    [LibraryImport(Library, EntryPoint = "nvmlEventSetFree")]
    internal static partial int EventSetFree(nint set);
}
