using System.Globalization;
using MetaGpu.Nvml.Native;

namespace MetaGpu.Nvml;

/// <summary>NVML's raw values in the model's terms.</summary>
internal static class NvmlValues
{
    /// <summary>nvmlSystemGetCudaDriverVersion's 1000 × major + 10 × minor as "major.minor" (12040 → "12.4").</summary>
    public static string FormatCudaVersion(int version) =>
        string.Create(CultureInfo.InvariantCulture, $"{version / 1000}.{version % 1000 / 10}");

    /// <summary>nvmlComputeMode_t by the names <see cref="GpuInfo.ComputeMode"/> documents.</summary>
    public static string ComputeModeName(int mode) => mode switch
    {
        NvmlConstants.ComputeModeDefault => "Default",
        NvmlConstants.ComputeModeExclusiveThread => "ExclusiveThread",
        NvmlConstants.ComputeModeProhibited => "Prohibited",
        NvmlConstants.ComputeModeExclusiveProcess => "ExclusiveProcess",
        _ => "Unknown",
    };

    /// <summary>A process's memory, null for NVML_VALUE_NOT_AVAILABLE.</summary>
    public static ulong? ProcessMemory(ulong usedGpuMemory) =>
        usedGpuMemory == NvmlConstants.ValueNotAvailable ? null : usedGpuMemory;

    /// <summary>The health event an nvmlEventType bit set stands for; null for types MetaGPU does not watch.</summary>
    public static GpuEventKind? EventKind(ulong eventType) =>
        (eventType & NvmlConstants.EventTypeXidCriticalError) != 0 ? GpuEventKind.Xid
        : (eventType & NvmlConstants.EventTypeDoubleBitEccError) != 0 ? GpuEventKind.DoubleBitEcc
        : (eventType & NvmlConstants.EventTypeSingleBitEccError) != 0 ? GpuEventKind.SingleBitEcc
        : null;
}
