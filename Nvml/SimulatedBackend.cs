using System.Globalization;
using System.Text;

namespace MetaGpu.Nvml;

/// <summary>
/// GPUs that exist only in memory, for machines without one (the demo, tests, trying MetaGPU on a laptop).
/// They answer like NVML does: processes, memory that follows them, utilisation samples, and events or lost GPUs
/// that a test or the demo injects.
/// </summary>
public sealed class SimulatedBackend : IGpuBackend
{
    private readonly Lock _lock = new();
    private readonly List<SimulatedGpu> _gpus;
    private readonly List<SimulatedWatcher> _watchers = [];

    public SimulatedBackend(IEnumerable<SimulatedGpuModel> models)
    {
        _gpus = [];
        foreach (var m in models)
            _gpus.Add(new SimulatedGpu(_gpus.Count, m));
        if (_gpus.Count == 0)
            throw new ArgumentException("a simulation needs at least one GPU", nameof(models));
    }

    /// <summary>
    /// Parses a description: a count (<c>2</c>), or comma-separated models with optional count and memory:
    /// <c>2xA100</c>, <c>A100-80GB,T4</c>, <c>H100:94GiB</c>. Errors name the part that did not parse and the known models.
    /// </summary>
    public static SimulatedBackend Parse(string description) => new(SimulatedGpuModel.ParseList(description));

    public string Kind => "simulated";

    public string DriverVersion { get; init; } = "550.54.15";
    public string CudaDriverVersion { get; init; } = "12.4";

    /// <summary>UUIDs in index order.</summary>
    public IReadOnlyList<string> Uuids => _gpus.ConvertAll(g => g.Uuid);

    public GpuInventory GetInventory()
    {
        lock (_lock)
        {
            var gpus = new List<GpuInfo>(_gpus.Count);
            var unavailable = new List<GpuProblem>();
            foreach (var g in _gpus)
            {
                if (g.Lost)
                {
                    unavailable.Add(new GpuProblem(g.Index, g.Uuid, "nvmlDeviceGetMemoryInfo failed: GPU is lost (NVML error 15)"));
                    continue;
                }
                var used = Math.Min(g.Model.MemoryBytes, g.BaseUsedBytes + ProcessMemory(g));
                gpus.Add(new GpuInfo
                {
                    Index = g.Index,
                    Uuid = g.Uuid,
                    Name = g.Model.Name,
                    MemoryTotalBytes = g.Model.MemoryBytes,
                    MemoryUsedBytes = used,
                    MemoryFreeBytes = g.Model.MemoryBytes - used,
                    PciBusId = g.PciBusId,
                    MinorNumber = (uint)g.Index,
                    NumaNode = _gpus.Count > 1 ? (g.Index < (_gpus.Count + 1) / 2 ? 0 : 1) : null,
                    ComputeMode = "Default",
                    MigEnabled = g.Model.SupportsMig ? false : null,
                    TemperatureCelsius = 34 + (uint)g.Processes.Count * 3,
                    PowerMilliwatts = 55_000 + (uint)g.Processes.Count * 20_000,
                    UtilizationGpuPercent = (uint)Math.Min(100, g.Processes.Count * 25),
                    UtilizationMemoryPercent = (uint)(used * 100 / g.Model.MemoryBytes),
                });
            }
            return new GpuInventory(DriverVersion, CudaDriverVersion, gpus) { Unavailable = unavailable };
        }
    }

    public IReadOnlyList<GpuProcess> GetProcesses(string uuid)
    {
        lock (_lock)
        {
            var g = Find(uuid, "nvmlDeviceGetComputeRunningProcesses_v3");
            return new List<GpuProcess>(g.Processes);
        }
    }

    public IReadOnlyList<ProcessUtilizationSample> GetProcessUtilization(string uuid, ulong sinceTimestampMicroseconds)
    {
        lock (_lock)
        {
            var g = Find(uuid, "nvmlDeviceGetProcessUtilization");
            return g.Utilization.FindAll(s => s.TimestampMicroseconds > sinceTimestampMicroseconds);
        }
    }

    public IGpuEventWatcher WatchEvents()
    {
        lock (_lock)
        {
            var watcher = new SimulatedWatcher(this, new Dictionary<string, string>(_registrationFailures, StringComparer.Ordinal));
            _watchers.Add(watcher);
            return watcher;
        }
    }

    public void Probe(string uuid)
    {
        lock (_lock)
            Find(uuid, "nvmlDeviceGetMemoryInfo");
    }

    // ------------------------------------------------------------------ what tests and the demo inject

    /// <summary>Starts a process on a GPU; the GPU's used memory follows.</summary>
    public void AddProcess(string uuid, uint pid, ulong? usedMemoryBytes, GpuProcessKind kind = GpuProcessKind.Compute)
    {
        lock (_lock)
        {
            var g = FindUnchecked(uuid);
            g.Processes.RemoveAll(p => p.Pid == pid);
            g.Processes.Add(new GpuProcess(pid, usedMemoryBytes, kind));
        }
    }

    public void RemoveProcess(string uuid, uint pid)
    {
        lock (_lock)
            FindUnchecked(uuid).Processes.RemoveAll(p => p.Pid == pid);
    }

    public void AddUtilizationSample(string uuid, ProcessUtilizationSample sample)
    {
        lock (_lock)
            FindUnchecked(uuid).Utilization.Add(sample);
    }

    /// <summary>Delivers an event to every watcher, as NVML's event set would.</summary>
    public void InjectEvent(GpuEvent gpuEvent)
    {
        lock (_lock)
        {
            foreach (var w in _watchers)
                w.Enqueue(gpuEvent);
        }
    }

    /// <summary>
    /// A lost GPU fails every query with GPU_IS_LOST until it is found again. With <paramref name="announced"/> the event
    /// sets report the loss; without, it falls off silently and only a query tells.
    /// </summary>
    public void SetLost(string uuid, bool lost, bool announced = true)
    {
        lock (_lock)
            FindUnchecked(uuid).Lost = lost;
        if (lost && announced)
            InjectEvent(new GpuEvent(uuid, GpuEventKind.GpuLost, 0));
    }

    /// <summary>
    /// Makes event registration fail for one GPU in every event set created from now on, as nvmlDeviceRegisterEvents
    /// failing would (null: registration works again); such a set delivers none of that GPU's events.
    /// </summary>
    public void FailEventRegistration(string uuid, string? why)
    {
        lock (_lock)
        {
            FindUnchecked(uuid);
            if (why is null)
                _registrationFailures.Remove(uuid);
            else
                _registrationFailures[uuid] = "nvmlDeviceRegisterEvents failed: " + why;
        }
    }

    private readonly Dictionary<string, string> _registrationFailures = new(StringComparer.Ordinal);

    /// <summary>Makes the next event-set operations fail, as a broken driver would (null: work again).</summary>
    public string? FailEvents { get; set; }

    private SimulatedGpu FindUnchecked(string uuid) =>
        _gpus.Find(g => g.Uuid == uuid) ?? throw new GpuBackendException("nvmlDeviceGetHandleByUUID", NvmlReturn.NotFound, "Not Found");

    /// <summary>What the GPU's processes hold, as NVML's memory figures add them up.</summary>
    private static ulong ProcessMemory(SimulatedGpu g)
    {
        long sum = 0;
        foreach (var p in g.Processes)
        {
            var bytes = (long)(p.UsedMemoryBytes ?? 0);
            sum = checked(sum + bytes); // an absurd total throws rather than wraps, as Enumerable.Sum did
        }
        return (ulong)sum;
    }

    private SimulatedGpu Find(string uuid, string function)
    {
        var g = FindUnchecked(uuid);
        ThrowIfLost(g, function);
        return g;
    }

    private static void ThrowIfLost(SimulatedGpu g, string function)
    {
        if (g.Lost)
            throw new GpuBackendException(function, NvmlReturn.GpuIsLost, "GPU is lost");
    }

    public void Dispose()
    {
        lock (_lock)
        {
            foreach (var w in _watchers)
                w.Close();
            _watchers.Clear();
        }
    }

    private sealed class SimulatedGpu(int index, SimulatedGpuModel model)
    {
        public int Index { get; } = index;
        public SimulatedGpuModel Model { get; } = model;
        public string Uuid { get; } = MakeUuid(index, model);
        public string PciBusId { get; } = $"00000000:{0x17 + index / 32:X2}:{index % 32:X2}.0";
        public ulong BaseUsedBytes { get; } = 512UL * 1024 * 1024;
        public List<GpuProcess> Processes { get; } = [];
        public List<ProcessUtilizationSample> Utilization { get; } = [];
        public bool Lost { get; set; }

        private static string MakeUuid(int index, SimulatedGpuModel model)
        {
            // Stable across runs, so a restarted daemon re-advertises the same meta-device IDs. Two FNV-1a passes
            // make 128 bits; a cryptographic hash would pull the crypto stack into the binary for nothing.
            var text = Encoding.UTF8.GetBytes($"metagpu-simulated/{index}/{model.Name}");
            Span<byte> bytes = stackalloc byte[16];
            BitConverter.TryWriteBytes(bytes, Fnv1a(text, 0xcbf29ce484222325));
            BitConverter.TryWriteBytes(bytes[8..], Fnv1a(text, 0x84222325cbf29ce4));
            var hex = Convert.ToHexStringLower(bytes);
            return $"GPU-{hex[..8]}-{hex[8..12]}-{hex[12..16]}-{hex[16..20]}-{hex[20..32]}";
        }

        private static ulong Fnv1a(ReadOnlySpan<byte> data, ulong hash)
        {
            foreach (var b in data)
                hash = (hash ^ b) * 0x100000001b3;
            return hash;
        }
    }

    private sealed class SimulatedWatcher(SimulatedBackend backend, Dictionary<string, string> failures) : IGpuEventWatcher
    {
        private readonly Queue<GpuEvent> _queue = new();
        private bool _closed;

        public IReadOnlyDictionary<string, string> RegistrationFailures { get; } = failures;

        public void Enqueue(GpuEvent e)
        {
            if (e.Uuid is not null && failures.ContainsKey(e.Uuid))
                return; // not registered in this set
            lock (_queue)
            {
                _queue.Enqueue(e);
                Monitor.PulseAll(_queue);
            }
        }

        public void Close()
        {
            lock (_queue)
            {
                _closed = true;
                Monitor.PulseAll(_queue);
            }
        }

        public GpuEvent? Wait(TimeSpan timeout)
        {
            if (backend.FailEvents is { } failure)
                throw new GpuBackendException("nvmlEventSetWait_v2", NvmlReturn.Unknown, failure);
            var deadline = DateTime.UtcNow + timeout;
            lock (_queue)
            {
                while (_queue.Count == 0 && !_closed)
                {
                    var left = deadline - DateTime.UtcNow;
                    if (left <= TimeSpan.Zero)
                        return null;
                    // Whole milliseconds, rounded up, as NVML's wait takes them: a TimeSpan under 1 ms is a wait of
                    // 0 ms, and the loop spun through the last millisecond of every wait.
                    Monitor.Wait(_queue, (int)Math.Min(Math.Ceiling(left.TotalMilliseconds), int.MaxValue));
                }
                return _queue.Count > 0 ? _queue.Dequeue() : null;
            }
        }

        public void Dispose()
        {
            lock (backend._lock)
                backend._watchers.Remove(this);
            Close();
        }
    }
}

/// <summary>A kind of simulated GPU: its marketing name, memory and whether it has MIG.</summary>
public sealed record SimulatedGpuModel(string Name, ulong MemoryBytes, bool SupportsMig)
{
    private const ulong GiB = 1024UL * 1024 * 1024;

    /// <summary>Models a description may name (case-insensitive), with their usual memory sizes.</summary>
    public static readonly IReadOnlyDictionary<string, SimulatedGpuModel> Known = new Dictionary<string, SimulatedGpuModel>(StringComparer.OrdinalIgnoreCase)
    {
        ["A100"] = new("NVIDIA A100-SXM4-40GB", 40 * GiB, true),
        ["A100-80GB"] = new("NVIDIA A100-SXM4-80GB", 80 * GiB, true),
        ["H100"] = new("NVIDIA H100 80GB HBM3", 80 * GiB, true),
        ["H200"] = new("NVIDIA H200", 141 * GiB, true),
        ["L4"] = new("NVIDIA L4", 24 * GiB, false),
        ["T4"] = new("Tesla T4", 16 * GiB, false),
        ["V100"] = new("Tesla V100-SXM2-32GB", 32 * GiB, false),
    };

    public static readonly SimulatedGpuModel Default = Known["A100"];

    public static List<SimulatedGpuModel> ParseList(string description)
    {
        if (string.IsNullOrWhiteSpace(description))
            throw new FormatException("--simulate needs a GPU count or a list of models, e.g. 2 or 2xA100,T4:16GiB");
        var text = description.Trim();
        if (int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var n))
        {
            if (n is < 1 or > 64)
                throw new FormatException($"--simulate {text}: the GPU count must be 1..64");
            var all = new List<SimulatedGpuModel>(n);
            AddCopies(all, Default, n);
            return all;
        }
        var models = new List<SimulatedGpuModel>();
        foreach (var rawPart in text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            var part = rawPart;
            var count = 1;
            var x = part.IndexOf('x', StringComparison.OrdinalIgnoreCase);
            if (x > 0 && int.TryParse(part[..x], NumberStyles.None, CultureInfo.InvariantCulture, out var c))
            {
                count = c;
                part = part[(x + 1)..];
            }
            string? memory = null;
            var colon = part.IndexOf(':');
            if (colon >= 0)
            {
                memory = part[(colon + 1)..];
                part = part[..colon];
            }
            if (!Known.TryGetValue(part, out var model))
                throw new FormatException($"--simulate: unknown GPU model '{part}' in '{rawPart}'; known: {string.Join(", ", Known.Keys)}");
            if (memory is not null)
                model = model with { MemoryBytes = ParseMemory(memory, rawPart) };
            if (count is < 1 or > 64)
                throw new FormatException($"--simulate: count in '{rawPart}' must be 1..64");
            AddCopies(models, model, count);
        }
        if (models.Count is 0 or > 64)
            throw new FormatException($"--simulate {text}: between 1 and 64 GPUs, please");
        return models;
    }

    private static void AddCopies(List<SimulatedGpuModel> models, SimulatedGpuModel model, int count)
    {
        for (var i = 0; i < count; i++)
            models.Add(model);
    }

    private static ulong ParseMemory(string text, string part)
    {
        var t = text.Trim();
        ulong unit = t.EndsWith("GiB", StringComparison.OrdinalIgnoreCase) || t.EndsWith("GB", StringComparison.OrdinalIgnoreCase) ? GiB
            : t.EndsWith("MiB", StringComparison.OrdinalIgnoreCase) || t.EndsWith("MB", StringComparison.OrdinalIgnoreCase) ? 1024UL * 1024
            : 0;
        var digits = t.TrimEnd('B', 'b', 'i', 'I', 'G', 'g', 'M', 'm');
        if (unit == 0 || !ulong.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out var v) || v == 0)
            throw new FormatException($"--simulate: memory '{text}' in '{part}' must look like 16GiB or 512MiB");
        return v * unit;
    }
}
