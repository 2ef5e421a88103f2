using MetaGpu.DevicePlugin.Allocations;
using MetaGpu.Nvml;

namespace MetaGpu.DevicePlugin;

/// <summary>
/// What a running plugin daemon shares with a companion (<see cref="PluginDaemonOptions.Companion"/>, the usage
/// monitor): the node's state, the allocation files Allocate writes, and the GPU backend. The companion reads them;
/// the plugin never waits for it.
/// </summary>
public sealed record PluginNode(NodeStateStore State, AllocationFiles Allocations, IGpuBackend Backend);
