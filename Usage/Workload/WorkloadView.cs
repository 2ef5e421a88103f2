using MetaGpu.Primitives;

namespace MetaGpu.Usage.Workload;

/// <summary>
/// What runs on this node's GPUs at one refresh: every GPU, every container that holds an allocation, and the GPU
/// processes that belong to none. Immutable; each refresh publishes a new view (the third owner of a
/// <see cref="VersionedSnapshot{T}"/>, after node state and GPU health).
/// </summary>
public sealed record WorkloadView(
    long Version,
    DateTimeOffset Taken,
    IReadOnlyList<GpuUsage> Gpus,
    IReadOnlyList<ContainerUsage> Containers,
    IReadOnlyList<GpuProcessUsage> Unallocated,
    bool PodResourcesAvailable) : IVersioned<WorkloadView>
{
    /// <summary>Before the first refresh.</summary>
    public static readonly WorkloadView Empty = new(0, default, [], [], [], false);

    public WorkloadView WithVersion(long version) => this with { Version = version };

    /// <summary>The container that holds the allocation <paramref name="allocationKey"/>, when it is listed.</summary>
    public ContainerUsage? ContainerOf(string allocationKey)
    {
        foreach (var c in Containers)
        {
            if (c.AllocationKey == allocationKey)
                return c;
        }
        return null;
    }
}

/// <summary>One GPU: its memory and utilisation now, and how each resource splits it.</summary>
public sealed record GpuUsage(
    int Index,
    string Uuid,
    string Name,
    ulong MemoryTotalBytes,
    ulong MemoryUsedBytes,
    ulong MemoryFreeBytes,
    uint? UtilizationPercent,
    IReadOnlyList<ResourceSplit> Shares);

/// <summary>A resource's split of one GPU: <see cref="MetaGpus"/> meta-devices of <see cref="ShareMemoryMiB"/> MiB each.</summary>
public sealed record ResourceSplit(string Resource, int MetaGpus, ulong ShareMemoryMiB);

/// <summary>
/// One container's allocation (one resource) and what its processes use. Namespace, pod and container are empty when
/// the kubelet's pod-resources service could not name it (socket missing, or the container is not listed yet).
/// </summary>
public sealed record ContainerUsage(
    string AllocationKey,
    string Namespace,
    string Pod,
    string Container,
    string Resource,
    int Request,
    IReadOnlyList<ContainerGpu> Gpus,
    IReadOnlyList<GpuProcessUsage> Processes);

/// <summary>One GPU of a container's allocation: what it was given there and what its processes use there.</summary>
public sealed record ContainerGpu(
    string Uuid,
    int Index,
    int MetaDevices,
    int MetaGpus,
    ulong MemoryAllowedBytes,
    ulong MemoryUsedBytes,
    uint SmPercent)
{
    /// <summary>The share of the GPU's compute this allocation stands for, in percent (30 of 100 meta-devices: 30).</summary>
    public double SharePercent => MetaGpus == 0 ? 0 : 100.0 * MetaDevices / MetaGpus;
}

/// <summary>
/// One process on one GPU (a process on two GPUs is two of these). <see cref="Identified"/> is false when its
/// <c>/proc</c> could not be read in this refresh (it exited, or is not visible): such a process is never signalled.
/// </summary>
public sealed record GpuProcessUsage(
    int Pid,
    string GpuUuid,
    int GpuIndex,
    string CommandLine,
    ulong? MemoryUsedBytes,
    uint? SmPercent,
    string? ContainerId,
    string? PodUid,
    ulong StartTicks,
    string? AllocationKey,
    bool Identified);
