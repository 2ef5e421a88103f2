using MetaGpu.Proto.DevicePlugin.V1Beta1;

namespace MetaGpu.DevicePlugin;

/// <summary>The ListAndWatch snapshot of one resource: every meta-device, its health and NUMA node.</summary>
public static class DeviceList
{
    public const string Healthy = "Healthy";
    public const string Unhealthy = "Unhealthy";

    /// <summary>
    /// The size in bytes of <see cref="Build"/>'s message for <paramref name="plan"/> with every GPU's health
    /// <paramref name="health"/>, without building it: a GPU's devices differ only in the digits of their share, so
    /// one real <see cref="Device"/> per GPU and digit count is sized by protobuf and counted as often as it occurs.
    /// Building the whole list to size it made 800 devices and their IDs (about 170 KB) at every start, before
    /// registering, and the GC's first collection came during the first listing.
    /// </summary>
    public static int Size(ResourcePlan plan, string health)
    {
        var size = 0;
        foreach (var gpu in plan.Gpus)
        {
            var topology = TopologyOf(gpu);
            // Shares [from, to) have the same number of digits.
            for (int from = 0, to = 10; from < gpu.MetaGpus; from = to, to = to > int.MaxValue / 10 ? int.MaxValue : to * 10)
            {
                var count = Math.Min(to, gpu.MetaGpus) - from;
                var device = DeviceOf(new MetaDeviceId(gpu.Index, from, gpu.Uuid), health, topology);
                // repeated Device devices = 1: a one-byte tag, the length, the message.
                size += count * (1 + Google.Protobuf.CodedOutputStream.ComputeMessageSize(device));
            }
        }
        return size;
    }

    public static ListAndWatchResponse Build(ResourcePlan plan, Func<string, bool> isHealthy)
    {
        var response = new ListAndWatchResponse();
        foreach (var gpu in plan.Gpus)
        {
            var health = isHealthy(gpu.Uuid) ? Healthy : Unhealthy;
            var topology = TopologyOf(gpu);
            foreach (var id in gpu.Devices())
                response.Devices.Add(DeviceOf(id, health, topology));
        }
        return response;
    }

    /// <summary>The GPU's NUMA node as the kubelet reads it; null when unknown (one instance shared by its devices).</summary>
    private static TopologyInfo? TopologyOf(PlannedGpu gpu)
    {
        if (gpu.NumaNode is not { } node)
            return null;
        var topology = new TopologyInfo();
        topology.Nodes.Add(new NUMANode { ID = node });
        return topology;
    }

    private static Device DeviceOf(MetaDeviceId id, string health, TopologyInfo? topology)
    {
        var device = new Device { ID = id.ToString(), Health = health };
        if (topology is not null)
            device.Topology = topology;
        return device;
    }
}
