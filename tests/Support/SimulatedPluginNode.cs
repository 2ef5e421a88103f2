using MetaGpu.DevicePlugin;
using MetaGpu.DevicePlugin.Allocations;
using MetaGpu.DevicePlugin.Config;
using MetaGpu.Nvml;

namespace MetaGpu.Tests.Support;

/// <summary>A node on the simulated backend, as <c>metagpu start</c> builds it: the default config's plan, every GPU healthy.</summary>
public static class SimulatedPluginNode
{
    /// <summary>The node of <paramref name="backend"/> with its allocation files under <paramref name="stateDirectory"/>.</summary>
    public static PluginNode Of(IGpuBackend backend, string stateDirectory)
    {
        var inventory = backend.GetInventory();
        var plan = SharePlanBuilder.Build(SharingConfig.Default, inventory);
        var health = inventory.Gpus.ToDictionary(g => g.Uuid, g => new GpuHealth(g.Uuid, true, null, DateTimeOffset.UnixEpoch));
        var store = new NodeStateStore(new NodeState(1, SharingConfig.Default, inventory, plan, new GpuHealthSnapshot(1, health)));
        return new PluginNode(store, new AllocationFiles(stateDirectory), backend);
    }
}
