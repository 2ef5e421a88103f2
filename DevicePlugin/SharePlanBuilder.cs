using System.Globalization;
using Google.Protobuf;
using MetaGpu.DevicePlugin.Config;
using MetaGpu.Nvml;
using MetaGpu.Primitives;
using MetaGpu.Proto.DevicePlugin.V1Beta1;

namespace MetaGpu.DevicePlugin;

/// <summary>The resources to advertise on this node, and what building them had to say.</summary>
public sealed record SharePlan(IReadOnlyList<ResourcePlan> Resources, IReadOnlyList<string> Warnings)
{
    public ResourcePlan? Find(string resourceName)
    {
        foreach (var r in Resources)
        {
            if (r.ResourceName == resourceName)
                return r;
        }
        return null;
    }
}

/// <summary>
/// Resolves the sharing config against this node's GPUs: which GPU goes to which resource and how it is split.
/// Errors here stop a start (or reject a config change): a GPU claimed by two resources, a device ID longer than
/// the kubelet accepts, or a device list the kubelet could not receive.
/// </summary>
public static class SharePlanBuilder
{
    /// <summary>grpc-go's default receive limit on the kubelet side: a larger ListAndWatch answer fails there.</summary>
    public const int KubeletMaxMessageSize = 4 * 1024 * 1024;

    public static SharePlan Build(SharingConfig config, GpuInventory inventory)
    {
        var warnings = new List<string>();
        var owner = new Dictionary<string, string>(StringComparer.Ordinal); // GPU UUID -> resource
        var explicitly = new Dictionary<string, List<GpuInfo>>(StringComparer.Ordinal);
        ResourceSharing? wildcard = null;

        foreach (var resource in config.Resources)
        {
            var gpus = new List<GpuInfo>();
            foreach (var entry in resource.Gpus)
            {
                if (entry == "*")
                {
                    wildcard = resource;
                    continue;
                }
                var gpu = Resolve(entry, inventory);
                if (gpu is null)
                {
                    // One ConfigMap serves many nodes: a GPU that is not on this one is not an error.
                    warnings.Add($"{resource.ResourceName}: GPU '{entry}' is not on this node; ignored");
                    continue;
                }
                if (owner.TryGetValue(gpu.Uuid, out var other))
                {
                    throw Error(config, resource, other == resource.ResourceName
                        ? $"GPU {gpu.Index} ({gpu.Uuid}) is listed twice for {resource.ResourceName}"
                        : $"GPU {gpu.Index} ({gpu.Uuid}) is claimed by both {other} and {resource.ResourceName}");
                }
                owner[gpu.Uuid] = resource.ResourceName;
                gpus.Add(gpu);
            }
            explicitly[resource.ResourceName] = gpus;
        }
        if (wildcard is not null)
        {
            foreach (var gpu in inventory.Gpus)
            {
                if (owner.TryAdd(gpu.Uuid, wildcard.ResourceName))
                    explicitly[wildcard.ResourceName].Add(gpu);
            }
        }

        var resources = new List<ResourcePlan>();
        foreach (var resource in config.Resources)
        {
            var planned = new List<PlannedGpu>();
            var byIndex = new List<GpuInfo>(explicitly[resource.ResourceName]);
            StableSort.Sort(byIndex, static (a, b) => a.Index.CompareTo(b.Index));
            foreach (var gpu in byIndex)
            {
                if (gpu.MigEnabled == true)
                {
                    warnings.Add($"{resource.ResourceName}: GPU {gpu.Index} ({gpu.Uuid}) has MIG enabled; MIG devices are not split into meta-devices, so it is left out");
                    continue;
                }
                var longest = new MetaDeviceId(gpu.Index, resource.MetaGpus - 1, gpu.Uuid).ToString();
                if (longest.Length > MetaDeviceId.MaxLength)
                    throw Error(config, resource, $"GPU {gpu.Index}: device IDs like {longest} are {longest.Length} characters; the kubelet accepts at most {MetaDeviceId.MaxLength}");
                planned.Add(new PlannedGpu(gpu.Uuid, gpu.Index, resource.MetaGpus, gpu.NumaNode, gpu.MemoryTotalBytes));
            }
            if (planned.Count == 0)
                warnings.Add($"{resource.ResourceName}: no GPU on this node; advertised with no devices");
            var plan = new ResourcePlan(resource.ResourceName, planned);
            var size = ListAndWatchSize(plan);
            if (size > KubeletMaxMessageSize)
            {
                var devices = 0;
                foreach (var g in planned)
                    devices += g.MetaGpus;
                throw Error(config, resource, $"{resource.ResourceName} would advertise {devices} devices in a " +
                    $"{size} byte ListAndWatch message; the kubelet accepts at most {KubeletMaxMessageSize} bytes: lower metaGpus");
            }
            resources.Add(plan);
        }
        return new SharePlan(resources, warnings);
    }

    /// <summary>The ListAndWatch message for the plan with every device unhealthy (the longest health string).</summary>
    public static int ListAndWatchSize(ResourcePlan plan) => DeviceList.Size(plan, DeviceList.Unhealthy);

    private static GpuInfo? Resolve(string entry, GpuInventory inventory)
    {
        var isIndex = int.TryParse(entry, NumberStyles.None, CultureInfo.InvariantCulture, out var index);
        foreach (var g in inventory.Gpus)
        {
            if (isIndex ? g.Index == index : string.Equals(g.Uuid, entry, StringComparison.OrdinalIgnoreCase))
                return g;
        }
        return null;
    }

    private static ConfigException Error(SharingConfig config, ResourceSharing r, string message) =>
        r.Line > 0 ? new ConfigException(config.Source.Split(" + ")[0], r.Line, message) : new ConfigException(config.Source, message);
}
