using MetaGpu.Proto.PodResources.V1;

namespace MetaGpu.Usage.PodResources;

/// <summary>
/// Turns a <c>ListPodResourcesResponse</c> into <see cref="PodContainer"/>s. Pure and total: any message the
/// parser accepted maps without throwing.
/// </summary>
public static class PodResourcesMapping
{
    /// <summary>
    /// Keeps only containers with at least one device ID. The kubelet sends one <c>ContainerDevices</c> per device
    /// (and per NUMA node of that device), so entries are merged per resource, IDs made distinct and sorted
    /// ordinally, resources sorted ordinally. Entries without a resource name or without IDs are dropped.
    /// </summary>
    public static IReadOnlyList<PodContainer> Map(ListPodResourcesResponse response)
    {
        var containers = new List<PodContainer>();
        var byResource = new SortedDictionary<string, SortedSet<string>>(StringComparer.Ordinal);
        foreach (var pod in response.PodResources)
        {
            foreach (var container in pod.Containers)
            {
                byResource.Clear();
                foreach (var devices in container.Devices)
                {
                    if (devices.ResourceName.Length == 0 || devices.DeviceIds.Count == 0)
                        continue;
                    if (!byResource.TryGetValue(devices.ResourceName, out var ids))
                        byResource[devices.ResourceName] = ids = new SortedSet<string>(StringComparer.Ordinal);
                    foreach (var id in devices.DeviceIds)
                    {
                        if (id.Length > 0)
                            ids.Add(id);
                    }
                }
                var list = new List<PodDevices>(byResource.Count);
                foreach (var (resource, ids) in byResource)
                {
                    if (ids.Count > 0)
                        list.Add(new PodDevices(resource, [.. ids]));
                }
                if (list.Count > 0)
                    containers.Add(new PodContainer(pod.Namespace, pod.Name, container.Name, list));
            }
        }
        return containers;
    }
}
