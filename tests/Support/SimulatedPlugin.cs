using MetaGpu.DevicePlugin;
using MetaGpu.DevicePlugin.Config;
using MetaGpu.Nvml;

namespace MetaGpu.Tests.Support;

/// <summary>
/// The default resource's plugin on a simulated node (<see cref="SimulatedPluginNode"/>), its allocation files in a
/// temporary directory that Dispose removes with the backend.
/// </summary>
public sealed class SimulatedPlugin : IDisposable
{
    public const string Resource = ResourceSharing.DefaultResourceName;

    private readonly SimulatedBackend _backend;
    private readonly DirectoryInfo _state;

    /// <param name="gpus">The simulated GPUs, as <see cref="SimulatedBackend.Parse"/> takes them.</param>
    public SimulatedPlugin(string gpus)
    {
        _backend = SimulatedBackend.Parse(gpus);
        _state = Directory.CreateTempSubdirectory("mg-plugin-");
        Node = SimulatedPluginNode.Of(_backend, _state.FullName);
        Plugin = new MetaGpuDevicePlugin(Resource, Node.State, Node.Allocations, null, CancellationToken.None);
    }

    public PluginNode Node { get; }

    public MetaGpuDevicePlugin Plugin { get; }

    /// <summary>The default resource's plan as the node has it now.</summary>
    public ResourcePlan Plan => Node.State.Current.Plan.Find(Resource)!;

    public void Dispose()
    {
        _backend.Dispose();
        _state.Delete(recursive: true);
    }
}
