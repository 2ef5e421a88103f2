namespace MetaGpu.Usage.PodResources;

/// <summary>
/// What the kubelet's pod-resources <c>List</c> said, reduced to the containers that hold devices.
/// <paramref name="Available"/>: false when the socket could not be reached (or has never answered), so nobody
/// can be named: callers label such containers <c>pod=""</c>. <paramref name="Fresh"/>: true only when this
/// answer came from the kubelet just now; false when it is the last good answer kept through a failure or a back-off.
/// </summary>
public sealed record PodResourcesSnapshot(bool Available, bool Fresh, IReadOnlyList<PodContainer> Containers)
{
    /// <summary>Nothing known: the socket is absent or refuses connections, or it never answered.</summary>
    public static PodResourcesSnapshot Unavailable { get; } = new(false, false, []);

    /// <summary>The same answer, marked as not fresh.</summary>
    internal PodResourcesSnapshot AsStale() => Fresh ? this with { Fresh = false } : this;
}

/// <summary>One container of one pod and the devices the kubelet assigned to it (every resource, not only ours).</summary>
public sealed record PodContainer(string Namespace, string Pod, string Container, IReadOnlyList<PodDevices> Devices);

/// <summary>The device IDs of one resource in one container: distinct and sorted ordinally (as allocation keys sort them).</summary>
public sealed record PodDevices(string Resource, IReadOnlyList<string> DeviceIds);
