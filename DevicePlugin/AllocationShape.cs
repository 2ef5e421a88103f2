namespace MetaGpu.DevicePlugin;

/// <summary>How a concrete set of meta-devices lies on the GPUs of a resource.</summary>
/// <param name="PerGpu">The GPUs the devices are on, with how many each, ordered by GPU index.</param>
/// <param name="Requested">How many meta-devices the set has.</param>
/// <param name="MinimumGpus">The fewest GPUs of the resource that could hold <paramref name="Requested"/> meta-devices
/// (from each GPU's meta-device count, not from what is free now).</param>
/// <param name="SpansMoreGpusThanNeeded"><c>PerGpu.Count &gt; MinimumGpus</c>.</param>
public sealed record AllocationShape(IReadOnlyList<GpuShare> PerGpu, int Requested, int MinimumGpus, bool SpansMoreGpusThanNeeded);

/// <summary><paramref name="Count"/> meta-devices of <paramref name="Gpu"/>.</summary>
public sealed record GpuShare(PlannedGpu Gpu, int Count);
