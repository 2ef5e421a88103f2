namespace MetaGpu.DevicePlugin.Allocations;

/// <summary>
/// Where a container sees its allocation file. Every container gets two read-only bind mounts of it: the documented
/// one, and one per resource, because the kubelet merges the mounts of a container's resources first-wins by
/// container path: a container with two metagpu resources keeps both files under <c>resources/</c>.
/// </summary>
public static class AllocationContainerPaths
{
    /// <summary>The path applications read (and <c>METAGPU_ALLOCATION</c> names).</summary>
    public const string Documented = "/etc/metagpu/allocation.json";

    public const string ResourceDirectory = "/etc/metagpu/resources";

    /// <summary><c>/etc/metagpu/resources/cnvrg.io_metagpu.json</c> for <c>cnvrg.io/metagpu</c>.</summary>
    public static string ForResource(string resource)
    {
        ArgumentNullException.ThrowIfNull(resource);
        return ResourceDirectory + "/" + resource.Replace('/', '_') + ".json";
    }
}
