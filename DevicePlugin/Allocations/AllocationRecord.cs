namespace MetaGpu.DevicePlugin.Allocations;

/// <summary>
/// What one container was given, as its allocation file says it (see <see cref="AllocationJson"/> for the bytes). A
/// pure function of the resource, the IDs and the plan: no timestamp, no pod, so the same allocation always gives the
/// same file.
/// </summary>
/// <param name="Resource">The extended resource, e.g. <c>cnvrg.io/metagpu</c>.</param>
/// <param name="Key"><see cref="AllocationKey.For"/> of the resource and the IDs.</param>
/// <param name="DeviceIds">The meta-device IDs, sorted ordinal, distinct.</param>
/// <param name="Request">How many meta-devices: the count of <paramref name="DeviceIds"/>.</param>
/// <param name="MemoryLimitMiB">The sum of the per-GPU limits (what <c>METAGPU_MAX_MEM</c> says).</param>
/// <param name="Gpus">Per physical GPU, ordered by GPU index.</param>
public sealed record AllocationRecord(
    string Resource, string Key, IReadOnlyList<string> DeviceIds, int Request, ulong MemoryLimitMiB, IReadOnlyList<AllocationGpu> Gpus)
{
    public const int SchemaVersion = 1;

    /// <summary>The record of <paramref name="ids"/> lying on the GPUs as <paramref name="shape"/> says.</summary>
    public static AllocationRecord Create(string resource, IReadOnlyCollection<string> ids, AllocationShape shape)
    {
        ArgumentNullException.ThrowIfNull(resource);
        ArgumentNullException.ThrowIfNull(ids);
        ArgumentNullException.ThrowIfNull(shape);
        var gpus = new List<AllocationGpu>(shape.PerGpu.Count);
        ulong memoryLimitMiB = 0;
        foreach (var share in shape.PerGpu)
        {
            var gpu = AllocationGpu.Of(share);
            gpus.Add(gpu);
            memoryLimitMiB += gpu.MemoryLimitMiB;
        }
        var sorted = new List<string>(ids);
        sorted.Sort(StringComparer.Ordinal); // equal IDs are the same text: their order cannot show
        return new AllocationRecord(resource, AllocationKey.ForSorted(resource, sorted), sorted, sorted.Count, memoryLimitMiB, gpus);
    }

    public bool Equals(AllocationRecord? other) =>
        other is not null && Resource == other.Resource && Key == other.Key && Request == other.Request &&
        MemoryLimitMiB == other.MemoryLimitMiB && SameItems(DeviceIds, other.DeviceIds) && SameItems(Gpus, other.Gpus);

    /// <summary>The same elements in the same order (strings compare ordinal).</summary>
    private static bool SameItems<T>(IReadOnlyList<T> a, IReadOnlyList<T> b)
    {
        if (a.Count != b.Count)
            return false;
        for (var i = 0; i < a.Count; i++)
        {
            if (!EqualityComparer<T>.Default.Equals(a[i], b[i]))
                return false;
        }
        return true;
    }

    public override int GetHashCode() => HashCode.Combine(Resource, Key, Request, MemoryLimitMiB, DeviceIds.Count, Gpus.Count);
}

/// <summary>One physical GPU's part in an allocation.</summary>
/// <param name="Uuid">The GPU's UUID (what <c>NVIDIA_VISIBLE_DEVICES</c> names).</param>
/// <param name="Index">The GPU's NVML index on this node.</param>
/// <param name="MetaDevices">How many of its meta-devices the container was given.</param>
/// <param name="MetaGpus">How many meta-devices the GPU is split into.</param>
/// <param name="Share"><paramref name="MetaDevices"/> / <paramref name="MetaGpus"/>, e.g. 0.3.</param>
/// <param name="MemoryLimitMiB">The GPU's memory in MiB × the share, rounded down.</param>
public sealed record AllocationGpu(string Uuid, int Index, int MetaDevices, int MetaGpus, double Share, ulong MemoryLimitMiB)
{
    public static AllocationGpu Of(GpuShare share)
    {
        ArgumentNullException.ThrowIfNull(share);
        var gpu = share.Gpu;
        return new AllocationGpu(gpu.Uuid, gpu.Index, share.Count, gpu.MetaGpus, (double)share.Count / gpu.MetaGpus, MemoryLimit(gpu.MemoryBytes, share.Count, gpu.MetaGpus));
    }

    /// <summary>Memory in proportion to the share (MiB first, then the fraction, rounded down once).</summary>
    public static ulong MemoryLimit(ulong memoryBytes, int metaDevices, int metaGpus) =>
        (memoryBytes >> 20) * (ulong)metaDevices / (ulong)metaGpus;
}
