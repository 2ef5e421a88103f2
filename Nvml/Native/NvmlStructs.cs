using System.Runtime.InteropServices;

namespace MetaGpu.Nvml.Native;

// nvml.h's structs, field for field (x86-64 / aarch64 Linux alignment: an unsigned long long is 8-aligned).

/// <summary>nvmlMemory_t (v1): bytes.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct NvmlMemory
{
    public ulong Total;
    public ulong Free;
    public ulong Used;
}

/// <summary>nvmlPciInfo_t as nvmlDeviceGetPciInfo_v3 fills it (68 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct NvmlPciInfo
{
    /// <summary><c>DDDD:BB:DD.F</c>, NUL-terminated (NVML_DEVICE_PCI_BUS_ID_BUFFER_V2_SIZE).</summary>
    public fixed byte BusIdLegacy[NvmlConstants.PciBusIdLegacyBufferSize];
    public uint Domain;
    public uint Bus;
    public uint Device;
    public uint PciDeviceId;
    public uint PciSubSystemId;

    /// <summary><c>DDDDDDDD:BB:DD.F</c>, NUL-terminated (NVML_DEVICE_PCI_BUS_ID_BUFFER_SIZE).</summary>
    public fixed byte BusId[NvmlConstants.PciBusIdBufferSize];
}

/// <summary>nvmlUtilization_t: percent over the last sample period.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct NvmlUtilization
{
    public uint Gpu;
    public uint Memory;
}

/// <summary>nvmlProcessInfo_t (= nvmlProcessInfo_v2_t), what the _v3 process queries fill (24 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct NvmlProcessInfo
{
    public uint Pid;

    /// <summary>Bytes, or <see cref="NvmlConstants.ValueNotAvailable"/>.</summary>
    public ulong UsedGpuMemory;

    /// <summary>0xFFFFFFFF unless MIG is enabled.</summary>
    public uint GpuInstanceId;
    public uint ComputeInstanceId;
}

/// <summary>nvmlProcessUtilizationSample_t (32 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct NvmlProcessUtilizationSample
{
    public uint Pid;

    /// <summary>CPU timestamp in microseconds.</summary>
    public ulong TimeStamp;
    public uint SmUtil;
    public uint MemUtil;
    public uint EncUtil;
    public uint DecUtil;
}

/// <summary>nvmlEventData_t as nvmlEventSetWait_v2 fills it (with the MIG instance ids; 32 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct NvmlEventData
{
    public nint Device;
    public ulong EventType;

    /// <summary>The XID for <see cref="NvmlConstants.EventTypeXidCriticalError"/> (999: unknown XID); 0 otherwise.</summary>
    public ulong EventData;
    public uint GpuInstanceId;
    public uint ComputeInstanceId;
}
