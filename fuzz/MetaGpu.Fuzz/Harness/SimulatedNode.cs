using MetaGpu.DevicePlugin;
using MetaGpu.DevicePlugin.Config;
using MetaGpu.Nvml;

namespace MetaGpu.Fuzz;

/// <summary>
/// The node the plugin targets serve: three simulated GPUs (2×A100, T4), 10 meta-devices each, under one of
/// <see cref="VariantCount"/> configs (policy × spanning × device-list strategy × whether the T4 is unhealthy).
/// Deterministic, so the device IDs in the captured seeds stay valid.
/// </summary>
internal static class SimulatedNode
{
    public const string Resource = ResourceSharing.DefaultResourceName;
    public const string Gpus = "2xA100,T4";
    public const int MetaGpusPerGpu = 10;

    public static int VariantCount => 2 * 2 * 3 * 2;

    private static readonly NodeStateStore?[] Stores = new NodeStateStore?[VariantCount];

    public static NodeStateStore Store(int variant)
    {
        variant %= VariantCount;
        return Stores[variant] ??= Build(variant);
    }

    private static NodeStateStore Build(int variant)
    {
        var policy = (AllocationPolicyKind)(variant % 2);
        var spanning = (SpanningMode)(variant / 2 % 2);
        var strategy = (DeviceListStrategy)(variant / 4 % 3);
        var oneUnhealthy = variant / 12 % 2 == 1;

        using var backend = SimulatedBackend.Parse(Gpus);
        var inventory = backend.GetInventory();
        var config = SharingConfig.Default with
        {
            Resources = [new ResourceSharing(Resource, MetaGpusPerGpu, [ResourceSharing.AllGpus], 0)],
            Policy = policy,
            Spanning = spanning,
            DeviceListStrategy = strategy,
            Source = "fuzz",
        };
        var plan = SharePlanBuilder.Build(config, inventory);
        var health = inventory.Gpus.ToDictionary(
            g => g.Uuid,
            g => new GpuHealth(g.Uuid, !(oneUnhealthy && g.Index == inventory.Gpus.Count - 1), oneUnhealthy ? "XID 79 (simulated)" : null, DateTimeOffset.UnixEpoch));
        return new NodeStateStore(new NodeState(1, config, inventory, plan, new GpuHealthSnapshot(1, health)));
    }
}
