using MetaGpu.Nvml;

namespace MetaGpu.Tests.Gpu;

/// <summary>
/// A backend with a world a test can change: the same behavioural tests run against simulated GPUs and, through
/// the real bindings, against the fake libnvidia-ml.
/// </summary>
public interface IBackendHarness : IDisposable
{
    IGpuBackend Backend { get; }
    IReadOnlyList<string> Uuids { get; }
    void AddProcess(int gpu, uint pid, ulong bytes);
    void InjectXid(int gpu, ulong xid);
    void InjectDoubleBitEcc(int gpu);
    void SetLost(int gpu, bool lost);

    /// <summary>Lost (or found again) without any event: only a query tells.</summary>
    void SetLostSilently(int gpu, bool lost);

    /// <summary>nvmlDeviceRegisterEvents fails for the GPU until cleared (<paramref name="failing"/> false).</summary>
    void FailEventRegistration(int gpu, bool failing);
}

public sealed class SimulatedHarness : IBackendHarness
{
    private readonly SimulatedBackend _backend;

    public SimulatedHarness(int gpus) => _backend = SimulatedBackend.Parse(gpus.ToString(System.Globalization.CultureInfo.InvariantCulture));

    public IGpuBackend Backend => _backend;
    public IReadOnlyList<string> Uuids => _backend.Uuids;
    public void AddProcess(int gpu, uint pid, ulong bytes) => _backend.AddProcess(Uuids[gpu], pid, bytes);
    public void InjectXid(int gpu, ulong xid) => _backend.InjectEvent(new GpuEvent(Uuids[gpu], GpuEventKind.Xid, xid));
    public void InjectDoubleBitEcc(int gpu) => _backend.InjectEvent(new GpuEvent(Uuids[gpu], GpuEventKind.DoubleBitEcc, 0));
    public void SetLost(int gpu, bool lost) => _backend.SetLost(Uuids[gpu], lost);
    public void SetLostSilently(int gpu, bool lost) => _backend.SetLost(Uuids[gpu], lost, announced: false);
    public void FailEventRegistration(int gpu, bool failing) => _backend.FailEventRegistration(Uuids[gpu], failing ? "Unknown Error (NVML error 999)" : null);
    public void Dispose() => _backend.Dispose();
}

/// <summary>The fake libnvidia-ml behind the real bindings, driven by rewriting its world file.</summary>
public sealed class FakeNvmlHarness : IBackendHarness
{
    private readonly MetaGpu.Tests.Nvml.FakeNvml _fake;
    private readonly List<string> _gpuLines = [];
    private readonly List<string> _processLines = [];
    private readonly List<string> _eventLines = [];
    private readonly HashSet<int> _lost = [];
    private readonly HashSet<int> _lostSilently = [];
    private readonly HashSet<int> _registrationFailing = [];
    private readonly NvmlBackend _backend;

    public FakeNvmlHarness(MetaGpu.Tests.Nvml.FakeNvml fake, int gpus)
    {
        _fake = fake;
        for (var i = 0; i < gpus; i++)
        {
            var uuid = $"GPU-{i:x8}-1111-2222-3333-{i:x12}";
            Uuids.Add(uuid);
            _gpuLines.Add($"gpu index={i} uuid={uuid} name=\"NVIDIA Fake {i}\" mem_total={(40UL << 30) + (ulong)i} mem_used={1UL << 30} pci=00000000:{0x10 + i:x2}:00.0 minor={i} compute_mode=0 mig=0 temp=40 power=70000 util_gpu=1 util_mem=1 events=0xb");
        }
        _backend = fake.Open(World());
    }

    public List<string> Uuids { get; } = [];
    IReadOnlyList<string> IBackendHarness.Uuids => Uuids;
    public IGpuBackend Backend => _backend;

    private string World()
    {
        var lines = new List<string> { "driver 550.54.15", "cuda 12040" };
        lines.AddRange(_gpuLines);
        lines.AddRange(_processLines);
        lines.AddRange(_lost.Select(i => $"lost gpu={i}"));
        lines.AddRange(_lostSilently.Select(i => $"lost gpu={i} event=0"));
        lines.AddRange(_registrationFailing.Select(i => $"error func=nvmlDeviceRegisterEvents gpu={i} code=999"));
        lines.AddRange(_eventLines);
        return string.Join('\n', lines) + "\n";
    }

    private void Update() => _fake.Rewrite(World());

    public void AddProcess(int gpu, uint pid, ulong bytes)
    {
        _processLines.Add($"process gpu={gpu} pid={pid} mem={bytes} kind=compute");
        Update();
    }

    public void InjectXid(int gpu, ulong xid)
    {
        _eventLines.Add($"event gpu={gpu} type=0x8 data={xid}");
        Update();
    }

    public void InjectDoubleBitEcc(int gpu)
    {
        _eventLines.Add($"event gpu={gpu} type=0x2");
        Update();
    }

    public void SetLost(int gpu, bool lost)
    {
        if (lost)
            _lost.Add(gpu);
        else
            _lost.Remove(gpu);
        Update();
    }

    public void SetLostSilently(int gpu, bool lost)
    {
        if (lost)
            _lostSilently.Add(gpu);
        else
            _lostSilently.Remove(gpu);
        Update();
    }

    public void FailEventRegistration(int gpu, bool failing)
    {
        if (failing)
            _registrationFailing.Add(gpu);
        else
            _registrationFailing.Remove(gpu);
        Update();
    }

    public void Dispose() => _backend.Dispose();
}
