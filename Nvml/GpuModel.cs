namespace MetaGpu.Nvml;

/// <summary>One physical GPU as the backend sees it. Optional queries the driver does not support are null.</summary>
public sealed record GpuInfo
{
    public required int Index { get; init; }
    public required string Uuid { get; init; }
    public required string Name { get; init; }
    public required ulong MemoryTotalBytes { get; init; }
    public required ulong MemoryUsedBytes { get; init; }
    public required ulong MemoryFreeBytes { get; init; }

    /// <summary>As NVML reports it, e.g. <c>00000000:07:00.0</c>.</summary>
    public required string PciBusId { get; init; }

    public required uint MinorNumber { get; init; }

    /// <summary>NUMA node from sysfs; null when the kernel does not say (no NUMA, or -1).</summary>
    public int? NumaNode { get; init; }

    /// <summary><c>Default</c>, <c>ExclusiveThread</c>, <c>Prohibited</c> or <c>ExclusiveProcess</c>; null if unsupported.</summary>
    public string? ComputeMode { get; init; }

    /// <summary>True when MIG mode is enabled; null when the GPU has no MIG.</summary>
    public bool? MigEnabled { get; init; }

    public uint? TemperatureCelsius { get; init; }
    public uint? PowerMilliwatts { get; init; }
    public uint? UtilizationGpuPercent { get; init; }
    public uint? UtilizationMemoryPercent { get; init; }
}

/// <summary>
/// The node's GPUs and driver, read in one pass. A GPU that does not answer (lost, or failing a required query) is
/// listed in <see cref="Unavailable"/> instead of failing the whole inventory: one bad GPU must not stop the others.
/// </summary>
public sealed record GpuInventory(string DriverVersion, string CudaDriverVersion, IReadOnlyList<GpuInfo> Gpus)
{
    public IReadOnlyList<GpuProblem> Unavailable { get; init; } = [];
}

/// <summary>A GPU the backend counts but cannot read, and why (NVML's words).</summary>
public sealed record GpuProblem(int Index, string? Uuid, string Reason)
{
    /// <summary>How logs and messages name the GPU: <c>GPU 1 (GPU-…)</c>, or <c>GPU 1 (UUID unreadable)</c> when even that failed.</summary>
    public string Name => Uuid is null ? $"GPU {Index} (UUID unreadable)" : $"GPU {Index} ({Uuid})";
}

public enum GpuProcessKind
{
    Compute,
    Graphics,
}

/// <summary>A process using a GPU. <see cref="UsedMemoryBytes"/> is null where the driver cannot tell (e.g. under some virtualisation).</summary>
public sealed record GpuProcess(uint Pid, ulong? UsedMemoryBytes, GpuProcessKind Kind);

/// <summary>One per-process utilisation sample (nvmlProcessUtilizationSample_t).</summary>
public sealed record ProcessUtilizationSample(uint Pid, ulong TimestampMicroseconds, uint SmPercent, uint MemoryPercent, uint EncoderPercent, uint DecoderPercent);

public enum GpuEventKind
{
    /// <summary>An XID error; <see cref="GpuEvent.Data"/> is the XID number.</summary>
    Xid,
    DoubleBitEcc,
    SingleBitEcc,
    /// <summary>The GPU fell off the bus or stopped answering (NVML_ERROR_GPU_IS_LOST).</summary>
    GpuLost,
}

/// <summary>A health-relevant event for one GPU (by UUID; null when NVML could not say which).</summary>
public sealed record GpuEvent(string? Uuid, GpuEventKind Kind, ulong Data);

/// <summary>Any failure of a backend call, with the library's own words (nvmlErrorString) and the call's name.</summary>
public sealed class GpuBackendException(string function, int code, string message)
    : Exception($"{function} failed: {message} (NVML error {code})")
{
    public string Function { get; } = function;

    /// <summary>The nvmlReturn_t value; see <see cref="NvmlReturn"/>.</summary>
    public int Code { get; } = code;
}

/// <summary>The nvmlReturn_t values the product reacts to.</summary>
public static class NvmlReturn
{
    public const int Success = 0;
    public const int Uninitialized = 1;
    public const int InvalidArgument = 2;
    public const int NotSupported = 3;
    public const int NoPermission = 4;
    public const int NotFound = 6;
    public const int InsufficientSize = 7;
    public const int DriverNotLoaded = 9;
    public const int Timeout = 10;
    public const int GpuIsLost = 15;
    public const int FunctionNotFound = 13;
    public const int LibraryNotFound = 12;
    public const int Unknown = 999;
}
