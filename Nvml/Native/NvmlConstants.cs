namespace MetaGpu.Nvml.Native;

/// <summary>nvml.h's constants that the bindings use (return codes are in <see cref="NvmlReturn"/>).</summary>
internal static class NvmlConstants
{
    /// <summary>NVML_VALUE_NOT_AVAILABLE, (-1) read as an unsigned long long.</summary>
    public const ulong ValueNotAvailable = ulong.MaxValue;

    public const int PciBusIdBufferSize = 32;        // NVML_DEVICE_PCI_BUS_ID_BUFFER_SIZE
    public const int PciBusIdLegacyBufferSize = 16;  // NVML_DEVICE_PCI_BUS_ID_BUFFER_V2_SIZE
    public const int UuidBufferSize = 96;            // NVML_DEVICE_UUID_V2_BUFFER_SIZE
    public const int NameBufferSize = 96;            // NVML_DEVICE_NAME_V2_BUFFER_SIZE
    public const int DriverVersionBufferSize = 80;   // NVML_SYSTEM_DRIVER_VERSION_BUFFER_SIZE

    public const int TemperatureGpu = 0;             // NVML_TEMPERATURE_GPU

    // nvmlComputeMode_t
    public const int ComputeModeDefault = 0;
    public const int ComputeModeExclusiveThread = 1;
    public const int ComputeModeProhibited = 2;
    public const int ComputeModeExclusiveProcess = 3;

    public const uint MigEnabled = 1;                // NVML_DEVICE_MIG_ENABLE

    // nvmlEventType* bits
    public const ulong EventTypeSingleBitEccError = 0x1;
    public const ulong EventTypeDoubleBitEccError = 0x2;
    public const ulong EventTypePState = 0x4;
    public const ulong EventTypeXidCriticalError = 0x8;
    public const ulong EventTypeClock = 0x10;

    /// <summary>The events MetaGPU watches for health.</summary>
    public const ulong EventTypesWatched = EventTypeXidCriticalError | EventTypeDoubleBitEccError | EventTypeSingleBitEccError;
}
