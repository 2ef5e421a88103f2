namespace MetaGpu.DevicePlugin;

/// <summary>One physical GPU's part in a resource: how many meta-devices it is split into.</summary>
public sealed record PlannedGpu(string Uuid, int Index, int MetaGpus, int? NumaNode, ulong MemoryBytes)
{
    /// <summary>Memory of one meta-device (share size), in MiB, rounded down.</summary>
    public ulong ShareMemoryMiB => MemoryBytes / 1024 / 1024 / (ulong)MetaGpus;

    public IEnumerable<MetaDeviceId> Devices()
    {
        for (var share = 0; share < MetaGpus; share++)
            yield return new MetaDeviceId(Index, share, Uuid);
    }
}

/// <summary>One extended resource (e.g. <c>cnvrg.io/metagpu</c>) and the GPUs it splits.</summary>
public sealed record ResourcePlan(string ResourceName, IReadOnlyList<PlannedGpu> Gpus)
{
    public IEnumerable<MetaDeviceId> Devices()
    {
        foreach (var g in Gpus)
        {
            foreach (var d in g.Devices())
                yield return d;
        }
    }

    public PlannedGpu? FindGpu(string uuid)
    {
        foreach (var g in Gpus)
        {
            if (g.Uuid == uuid)
                return g;
        }
        return null;
    }
}
