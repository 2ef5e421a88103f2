using MetaGpu.Proto.DevicePlugin.V1Beta1;

namespace MetaGpu.DevicePlugin;

/// <summary>The ListAndWatch snapshot of one resource: every meta-device, its health and NUMA node.</summary>
public static class DeviceList
{
    public const string Healthy = "Healthy";
    public const string Unhealthy = "Unhealthy";

    public static ListAndWatchResponse Build(ResourcePlan plan, Func<string, bool> isHealthy)
    {
        var response = new ListAndWatchResponse();
        foreach (var gpu in plan.Gpus)
        {
            var health = isHealthy(gpu.Uuid) ? Healthy : Unhealthy;
            TopologyInfo? topology = null;
            if (gpu.NumaNode is { } node)
            {
                topology = new TopologyInfo();
                topology.Nodes.Add(new NUMANode { ID = node });
            }
            foreach (var id in gpu.Devices())
            {
                var device = new Device { ID = id.ToString(), Health = health };
                if (topology is not null)
                    device.Topology = topology;
                response.Devices.Add(device);
            }
        }
        return response;
    }
}
