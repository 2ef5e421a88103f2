namespace MetaGpu.DevicePlugin.Config;

/// <summary>How this node's GPUs are shared: what the config file, the environment and the flags said, validated.</summary>
public sealed record SharingConfig
{
    /// <summary>At least one; names are unique and at most one resource takes <c>"*"</c>.</summary>
    public required IReadOnlyList<ResourceSharing> Resources { get; init; }

    public AllocationPolicyKind Policy { get; init; } = AllocationPolicyKind.Packed;

    public SpanningMode Spanning { get; init; } = SpanningMode.Allow;

    public DeviceListStrategy DeviceListStrategy { get; init; } = DeviceListStrategy.EnvVar;

    public HealthSettings Health { get; init; } = HealthSettings.Default;

    public MemorySettings Memory { get; init; } = MemorySettings.Default;

    /// <summary>Where it came from, for the startup log: <c>defaults</c> or the file path, plus the override sources used.</summary>
    public string Source { get; init; } = DefaultSource;

    /// <summary>Things that were accepted but deserve the operator's attention (ignored legacy keys, an empty file).</summary>
    public IReadOnlyList<string> Warnings { get; init; } = [];

    public const string DefaultSource = "defaults";

    /// <summary>No config file: the original MetaGPU's behaviour, every GPU split into 100 <c>cnvrg.io/metagpu</c>.</summary>
    public static SharingConfig Default { get; } = new()
    {
        Resources = [new ResourceSharing(ResourceSharing.DefaultResourceName, ResourceSharing.DefaultMetaGpus, [ResourceSharing.AllGpus], 0)],
    };
}
