using MetaGpu.Nvml.Native;

namespace MetaGpu.Nvml;

/// <summary>
/// GPU facts from the NVIDIA driver through NVML (libnvidia-ml.so.1). Every failing call throws
/// <see cref="GpuBackendException"/> with NVML's function name and words; optional queries the GPU does not
/// support (temperature, power, utilisation, compute mode, MIG mode, process utilisation) come back null or empty.
/// Thread-safe: calls are serialised by one lock (NVML itself is thread-safe; the lock keeps our caches consistent).
/// </summary>
public sealed unsafe class NvmlBackend : IGpuBackend
{
    /// <summary>Bounds the grow-and-retry of the count-in/count-out queries (processes can start between two calls).</summary>
    private const int MaxAttempts = 6;
    private const uint MaxEntries = 1 << 16;
    private const int MaxTextBuffer = 4096;

    private readonly Lock _gate = new();
    private readonly string _sysfsRoot;
    private readonly List<NvmlEventWatcher> _watchers = [];
    private bool _disposed;

    private NvmlBackend(string sysfsRoot) => _sysfsRoot = sysfsRoot;

    /// <summary>
    /// Loads NVML (from <paramref name="libraryPath"/>, else <c>$METAGPU_NVML_LIBRARY</c>, else <c>libnvidia-ml.so.1</c>) and
    /// initialises it. <paramref name="sysfsRoot"/> is where NUMA nodes are read (a fake tree in tests).
    /// </summary>
    /// <exception cref="NvmlLibraryNotFoundException">The library cannot be loaded or is no NVML.</exception>
    /// <exception cref="GpuBackendException">nvmlInit_v2 failed (e.g. the driver is not loaded).</exception>
    public static NvmlBackend Open(string? libraryPath = null, string sysfsRoot = "/sys")
    {
        var path = NvmlLibrary.ChoosePath(libraryPath);
        try
        {
            NvmlLibrary.Load(path);
            NvmlErrors.Check(NvmlNative.Init(), "nvmlInit_v2");
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            throw new NvmlLibraryNotFoundException(path, e);
        }
        return new NvmlBackend(sysfsRoot);
    }

    public string Kind => "nvml";

    public GpuInventory GetInventory()
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            var driver = ReadText(0, &DriverVersion, NvmlConstants.DriverVersionBufferSize, "nvmlSystemGetDriverVersion");
            int cuda;
            NvmlErrors.Check(NvmlNative.SystemGetCudaDriverVersion(&cuda), "nvmlSystemGetCudaDriverVersion_v2");
            uint count;
            NvmlErrors.Check(NvmlNative.DeviceGetCount(&count), "nvmlDeviceGetCount_v2");
            var gpus = new List<GpuInfo>((int)Math.Min(count, 64));
            var unavailable = new List<GpuProblem>();
            for (uint i = 0; i < count; i++)
            {
                nint device = 0;
                try
                {
                    NvmlErrors.Check(NvmlNative.DeviceGetHandleByIndex(i, &device), "nvmlDeviceGetHandleByIndex_v2");
                    gpus.Add(ReadGpu(device));
                }
                catch (GpuBackendException e)
                {
                    unavailable.Add(new GpuProblem((int)i, device == 0 ? null : TryReadUuid(device), e.Message));
                }
            }
            return new GpuInventory(driver, NvmlValues.FormatCudaVersion(cuda), gpus) { Unavailable = unavailable };
        }

        static int DriverVersion(nint _, byte* buffer, uint length) => NvmlNative.SystemGetDriverVersion(buffer, length);
    }

    private string? TryReadUuid(nint device)
    {
        try
        {
            return ReadText(device, &NvmlNative.DeviceGetUuid, NvmlConstants.UuidBufferSize, "nvmlDeviceGetUUID");
        }
        catch (GpuBackendException)
        {
            return null;
        }
    }

    private GpuInfo ReadGpu(nint device)
    {
        uint index, minor;
        NvmlErrors.Check(NvmlNative.DeviceGetIndex(device, &index), "nvmlDeviceGetIndex");
        var uuid = ReadText(device, &NvmlNative.DeviceGetUuid, NvmlConstants.UuidBufferSize, "nvmlDeviceGetUUID");
        var name = ReadText(device, &NvmlNative.DeviceGetName, NvmlConstants.NameBufferSize, "nvmlDeviceGetName");
        NvmlMemory memory;
        NvmlErrors.Check(NvmlNative.DeviceGetMemoryInfo(device, &memory), "nvmlDeviceGetMemoryInfo");
        NvmlPciInfo pci;
        NvmlErrors.Check(NvmlNative.DeviceGetPciInfo(device, &pci), "nvmlDeviceGetPciInfo_v3");
        var busId = NvmlText.Decode(pci.BusId, NvmlConstants.PciBusIdBufferSize);
        NvmlErrors.Check(NvmlNative.DeviceGetMinorNumber(device, &minor), "nvmlDeviceGetMinorNumber");

        int computeMode;
        uint migCurrent, migPending, temperature, power;
        NvmlUtilization utilization;
        var hasComputeMode = NvmlErrors.CheckOptional(NvmlNative.DeviceGetComputeMode(device, &computeMode), "nvmlDeviceGetComputeMode");
        var hasMig = NvmlErrors.CheckOptional(NvmlNative.DeviceGetMigMode(device, &migCurrent, &migPending), "nvmlDeviceGetMigMode");
        var hasTemperature = NvmlErrors.CheckOptional(
            NvmlNative.DeviceGetTemperature(device, NvmlConstants.TemperatureGpu, &temperature), "nvmlDeviceGetTemperature");
        var hasPower = NvmlErrors.CheckOptional(NvmlNative.DeviceGetPowerUsage(device, &power), "nvmlDeviceGetPowerUsage");
        var hasUtilization = NvmlErrors.CheckOptional(NvmlNative.DeviceGetUtilizationRates(device, &utilization), "nvmlDeviceGetUtilizationRates");

        return new GpuInfo
        {
            Index = (int)index,
            Uuid = uuid,
            Name = name,
            MemoryTotalBytes = memory.Total,
            MemoryUsedBytes = memory.Used,
            MemoryFreeBytes = memory.Free,
            PciBusId = busId,
            MinorNumber = minor,
            NumaNode = PciSysfs.ReadNumaNode(_sysfsRoot, busId),
            ComputeMode = hasComputeMode ? NvmlValues.ComputeModeName(computeMode) : null,
            MigEnabled = hasMig ? migCurrent == NvmlConstants.MigEnabled : null,
            TemperatureCelsius = hasTemperature ? temperature : null,
            PowerMilliwatts = hasPower ? power : null,
            UtilizationGpuPercent = hasUtilization ? utilization.Gpu : null,
            UtilizationMemoryPercent = hasUtilization ? utilization.Memory : null,
        };
    }

    /// <summary>Compute processes, then graphics processes not already listed (a pid in both is one Compute entry).</summary>
    public IReadOnlyList<GpuProcess> GetProcesses(string uuid)
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            var device = HandleByUuid(uuid);
            var compute = ReadProcesses(device, &NvmlNative.DeviceGetComputeRunningProcesses, "nvmlDeviceGetComputeRunningProcesses_v3");
            var graphics = ReadProcesses(device, &NvmlNative.DeviceGetGraphicsRunningProcesses, "nvmlDeviceGetGraphicsRunningProcesses_v3");
            var result = new List<GpuProcess>(compute.Length + graphics.Length);
            var seen = new HashSet<uint>();
            foreach (var p in compute)
                if (seen.Add(p.Pid))
                    result.Add(new GpuProcess(p.Pid, NvmlValues.ProcessMemory(p.UsedGpuMemory), GpuProcessKind.Compute));
            foreach (var p in graphics)
                if (seen.Add(p.Pid))
                    result.Add(new GpuProcess(p.Pid, NvmlValues.ProcessMemory(p.UsedGpuMemory), GpuProcessKind.Graphics));
            return result;
        }
    }

    public IReadOnlyList<ProcessUtilizationSample> GetProcessUtilization(string uuid, ulong sinceTimestampMicroseconds)
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            const string function = "nvmlDeviceGetProcessUtilization";
            var device = HandleByUuid(uuid);

            // The first call, without a buffer, says how many samples there are.
            uint count = 0;
            var code = NvmlNative.DeviceGetProcessUtilization(device, null, &count, sinceTimestampMicroseconds);
            if (code is NvmlReturn.NotFound or NvmlReturn.NotSupported || (code == NvmlReturn.Success && count == 0))
                return [];
            if (code is not (NvmlReturn.Success or NvmlReturn.InsufficientSize))
                throw NvmlErrors.Failure(function, code);

            var capacity = Math.Clamp(count, 1, MaxEntries);
            for (var attempt = 1; ; attempt++)
            {
                var samples = new NvmlProcessUtilizationSample[capacity];
                var filled = capacity;
                fixed (NvmlProcessUtilizationSample* buffer = samples)
                    code = NvmlNative.DeviceGetProcessUtilization(device, buffer, &filled, sinceTimestampMicroseconds);
                if (code == NvmlReturn.NotFound)
                    return [];
                if (code == NvmlReturn.Success)
                {
                    var result = new ProcessUtilizationSample[Math.Min(filled, capacity)];
                    for (var i = 0; i < result.Length; i++)
                    {
                        ref readonly var s = ref samples[i];
                        result[i] = new ProcessUtilizationSample(s.Pid, s.TimeStamp, s.SmUtil, s.MemUtil, s.EncUtil, s.DecUtil);
                    }
                    return result;
                }
                if (code != NvmlReturn.InsufficientSize || attempt == MaxAttempts || capacity == MaxEntries)
                    throw NvmlErrors.Failure(function, code);
                capacity = Grow(capacity, filled);
            }
        }
    }

    /// <summary>
    /// An event set with XID, double-bit and single-bit ECC events (as far as each GPU supports them) registered on
    /// every GPU. A GPU that cannot register is named in <see cref="IGpuEventWatcher.RegistrationFailures"/> by its
    /// UUID (or <c>GPU {index}</c> when not even its UUID can be read) with NVML's reason.
    /// </summary>
    public IGpuEventWatcher WatchEvents()
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            nint set;
            NvmlErrors.Check(NvmlNative.EventSetCreate(&set), "nvmlEventSetCreate");
            try
            {
                uint count;
                NvmlErrors.Check(NvmlNative.DeviceGetCount(&count), "nvmlDeviceGetCount_v2");
                var uuids = new Dictionary<nint, string>();
                var failures = new Dictionary<string, string>();
                var unwatched = new Dictionary<string, string>();
                for (uint i = 0; i < count; i++)
                    Register(set, i, uuids, failures, unwatched);
                var watcher = new NvmlEventWatcher(this, set, uuids, failures, unwatched);
                _watchers.Add(watcher);
                return watcher;
            }
            catch
            {
                NvmlNative.EventSetFree(set);
                throw;
            }
        }
    }

    private static void Register(nint set, uint index, Dictionary<nint, string> uuids, Dictionary<string, string> failures, Dictionary<string, string> unwatched)
    {
        nint device;
        var code = NvmlNative.DeviceGetHandleByIndex(index, &device);
        if (code != NvmlReturn.Success)
        {
            failures[$"GPU {index}"] = NvmlErrors.Failure("nvmlDeviceGetHandleByIndex_v2", code).Message;
            return;
        }
        string uuid;
        try
        {
            uuid = ReadText(device, &NvmlNative.DeviceGetUuid, NvmlConstants.UuidBufferSize, "nvmlDeviceGetUUID");
        }
        catch (GpuBackendException e)
        {
            failures[$"GPU {index}"] = e.Message;
            return;
        }

        ulong supported;
        code = NvmlNative.DeviceGetSupportedEventTypes(device, &supported);
        if (code != NvmlReturn.Success)
        {
            (code == NvmlReturn.NotSupported ? unwatched : failures)[uuid] = NvmlErrors.Failure("nvmlDeviceGetSupportedEventTypes", code).Message;
            return;
        }
        var types = supported & NvmlConstants.EventTypesWatched;
        if (types == 0)
        {
            unwatched[uuid] = $"nvmlDeviceGetSupportedEventTypes: {NvmlErrors.Describe(NvmlReturn.NotSupported)} " +
                $"(the GPU offers none of the XID and ECC events; supported mask 0x{supported:x})";
            return;
        }
        code = NvmlNative.DeviceRegisterEvents(device, types, set);
        if (code != NvmlReturn.Success)
        {
            (code == NvmlReturn.NotSupported ? unwatched : failures)[uuid] = NvmlErrors.Failure("nvmlDeviceRegisterEvents", code).Message;
            return;
        }
        uuids[device] = uuid;
    }

    /// <summary>The UUID of a device handle an event named, or null when NVML cannot say.</summary>
    internal string? LookupUuid(nint device)
    {
        if (device == 0)
            return null;
        lock (_gate)
        {
            if (_disposed)
                return null;
            try
            {
                return ReadText(device, &NvmlNative.DeviceGetUuid, NvmlConstants.UuidBufferSize, "nvmlDeviceGetUUID");
            }
            catch (GpuBackendException)
            {
                return null;
            }
        }
    }

    internal void Forget(NvmlEventWatcher watcher)
    {
        lock (_gate)
            _watchers.Remove(watcher);
    }

    /// <summary>nvmlDeviceGetHandleByUUID then nvmlDeviceGetMemoryInfo; throws when either fails (a lost GPU included).</summary>
    public void Probe(string uuid)
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            var device = HandleByUuid(uuid);
            NvmlMemory memory;
            NvmlErrors.Check(NvmlNative.DeviceGetMemoryInfo(device, &memory), "nvmlDeviceGetMemoryInfo");
        }
    }

    /// <summary>Frees the event sets still open and shuts NVML down (once).</summary>
    public void Dispose()
    {
        NvmlEventWatcher[] watchers;
        lock (_gate)
        {
            if (_disposed)
                return;
            _disposed = true;
            watchers = [.. _watchers];
            _watchers.Clear();
        }
        foreach (var watcher in watchers)
            watcher.Release();
        NvmlNative.Shutdown();
    }

    private static nint HandleByUuid(string uuid)
    {
        var text = NvmlText.EncodeNulTerminated(uuid);
        nint device;
        fixed (byte* p = text)
            NvmlErrors.Check(NvmlNative.DeviceGetHandleByUuid(p, &device), "nvmlDeviceGetHandleByUUID");
        return device;
    }

    /// <summary>A string query into a buffer of nvml.h's guaranteed size, larger when NVML says it is too small.</summary>
    private static string ReadText(nint device, delegate*<nint, byte*, uint, int> query, int size, string function)
    {
        while (true)
        {
            var buffer = new byte[size];
            int code;
            fixed (byte* p = buffer)
                code = query(device, p, (uint)size);
            if (code == NvmlReturn.Success)
                return NvmlText.Decode(buffer);
            if (code != NvmlReturn.InsufficientSize || size >= MaxTextBuffer)
                throw NvmlErrors.Failure(function, code);
            size *= 2;
        }
    }

    /// <summary>The count-in/count-out protocol of the _v3 process queries, growing the buffer on NVML_ERROR_INSUFFICIENT_SIZE.</summary>
    private static NvmlProcessInfo[] ReadProcesses(nint device, delegate*<nint, uint*, NvmlProcessInfo*, int> query, string function)
    {
        uint capacity = 32;
        for (var attempt = 1; ; attempt++)
        {
            var infos = new NvmlProcessInfo[capacity];
            var count = capacity;
            int code;
            fixed (NvmlProcessInfo* p = infos)
                code = query(device, &count, p);
            if (code == NvmlReturn.Success)
                return count >= capacity ? infos : infos[..(int)count];
            if (code != NvmlReturn.InsufficientSize || attempt == MaxAttempts || capacity == MaxEntries)
                throw NvmlErrors.Failure(function, code);
            capacity = Grow(capacity, count);
        }
    }

    /// <summary>Room for what NVML asked for plus headroom for newcomers, at least double the last try, bounded.</summary>
    private static uint Grow(uint capacity, uint needed) =>
        (uint)Math.Min(Math.Max((ulong)needed + needed / 4 + 8, (ulong)capacity * 2), MaxEntries);
}
