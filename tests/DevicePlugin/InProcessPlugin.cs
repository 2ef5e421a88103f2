using MetaGpu.DevicePlugin;
using MetaGpu.DevicePlugin.Allocations;
using MetaGpu.DevicePlugin.Config;
using MetaGpu.Nvml;
using Microsoft.Extensions.Logging;

namespace MetaGpu.Tests.DevicePlugin;

/// <summary>
/// The plugin's kubelet side (<see cref="PluginManager"/> and its endpoints) in this process, on simulated GPUs, with
/// the health snapshot under the test's control. For behaviour of one plugin's wire contract; what is about processes
/// (locks, exit codes, sockets of another process) uses the published binary. Its state directory is a temporary one of
/// its own (removed with it) unless the test names one, never the product's default.
/// </summary>
public sealed class InProcessPlugin : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _run;
    private readonly string? _ownStateDirectory;

    public InProcessPlugin(string directory, int gpus = 2, SharingConfig? config = null, string? stateDirectory = null, ILogger? log = null,
        ContainerAdditions? additions = null)
    {
        if (stateDirectory is null)
            stateDirectory = _ownStateDirectory = Directory.CreateTempSubdirectory("mg-state-").FullName;
        Allocations = new AllocationFiles(stateDirectory);
        Backend = SimulatedBackend.Parse(gpus.ToString(System.Globalization.CultureInfo.InvariantCulture));
        var inventory = Backend.GetInventory();
        config ??= SharingConfig.Default;
        var plan = SharePlanBuilder.Build(config, inventory);
        var health = new GpuHealthSnapshot(1, inventory.Gpus.ToDictionary(g => g.Uuid, g => new GpuHealth(g.Uuid, true, null, DateTimeOffset.UtcNow), StringComparer.Ordinal));
        State = new NodeStateStore(new NodeState(1, config, inventory, plan, health));
        Manager = new PluginManager(directory, State, Allocations, log, pollInterval: TimeSpan.FromMilliseconds(50), additions: additions);
        _run = Manager.RunAsync(_stop.Token);
    }

    public SimulatedBackend Backend { get; }
    public NodeStateStore State { get; }
    public AllocationFiles Allocations { get; }
    public PluginManager Manager { get; }
    public IReadOnlyList<string> Uuids => Backend.Uuids;

    /// <summary>Marks a GPU unhealthy (or healthy again) as the health monitor would.</summary>
    public void SetHealth(string uuid, bool healthy, string? reason = null) =>
        State.Update(s => s with
        {
            Health = new GpuHealthSnapshot(s.Health.Version + 1, new Dictionary<string, GpuHealth>(s.Health.Gpus, StringComparer.Ordinal)
            {
                [uuid] = new GpuHealth(uuid, healthy, reason, DateTimeOffset.UtcNow),
            }),
        });

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await _run.WaitAsync(TimeSpan.FromSeconds(30));
        Backend.Dispose();
        if (_ownStateDirectory is not null)
            Directory.Delete(_ownStateDirectory, recursive: true);
    }
}
