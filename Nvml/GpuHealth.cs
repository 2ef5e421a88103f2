using MetaGpu.Primitives;

namespace MetaGpu.Nvml;

/// <summary>One GPU's health: healthy, or not and why, since when.</summary>
public sealed record GpuHealth(string Uuid, bool Healthy, string? Reason, DateTimeOffset Since);

/// <summary>The health of every GPU at one moment. Immutable: a change publishes a new snapshot with a higher version.</summary>
public sealed class GpuHealthSnapshot(long version, IReadOnlyDictionary<string, GpuHealth> gpus) : IVersioned<GpuHealthSnapshot>
{
    public long Version { get; } = version;
    public IReadOnlyDictionary<string, GpuHealth> Gpus { get; } = gpus;

    public GpuHealthSnapshot WithVersion(long version) => new(version, Gpus);

    /// <summary>Unknown GPUs count as unhealthy: nothing vouches for them.</summary>
    public bool IsHealthy(string uuid) => Gpus.TryGetValue(uuid, out var h) && h.Healthy;
}
