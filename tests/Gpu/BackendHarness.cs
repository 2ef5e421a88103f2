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
    public void Dispose() => _backend.Dispose();
}
