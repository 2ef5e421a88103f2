using MetaGpu.DevicePlugin.Config;
using MetaGpu.Nvml;
using MetaGpu.Primitives;

namespace MetaGpu.DevicePlugin;

/// <summary>
/// Everything the plugin serves from, at one moment: config, GPU inventory, share plan, health. Immutable; a change
/// builds a new state with a higher version and wakes whoever waits (ListAndWatch streams).
/// </summary>
public sealed record NodeState(long Version, SharingConfig Config, GpuInventory Inventory, SharePlan Plan, GpuHealthSnapshot Health)
    : IVersioned<NodeState>
{
    public NodeState WithVersion(long version) => this with { Version = version };
}

/// <summary>The one owner of <see cref="NodeState"/> (named so the plugin's signatures read in the domain).</summary>
public sealed class NodeStateStore(NodeState initial) : VersionedSnapshot<NodeState>(initial);
