using YamlDotNet.RepresentationModel;

namespace MetaGpu.DevicePlugin.Config;

/// <summary>
/// The resources read so far, for the checks across them: a name used twice, <c>"*"</c> in two resources, a UUID or
/// an index given to two. Errors point at the second occurrence and name the line of the first.
/// </summary>
internal sealed class ResourceTable(YamlContext context)
{
    private readonly List<ResourceSharing> _resources = [];
    private readonly Dictionary<string, int> _names = new(StringComparer.Ordinal);

    /// <summary>By <c>"*"</c>, <c>uuid GPU-…</c> (any case: NVML prints hex in lower case, people may not) or <c>index 3</c>.</summary>
    private readonly Dictionary<string, (string Resource, int Line)> _gpus = new(StringComparer.OrdinalIgnoreCase);

    public IReadOnlyList<ResourceSharing> Resources => _resources;

    public void CheckName(YamlNode node, string field, string name)
    {
        if (ConfigValues.CheckResourceName(name) is { } why)
            throw context.Invalid(node, field, why);
        if (_names.TryGetValue(name, out var line))
            throw context.Invalid(node, field, $"{ConfigText.Quote(name)} is already used by the resource on line {line}");
        _names[name] = YamlContext.LineOf(node);
    }

    /// <summary>The entries of one resource's GPU list, normalized; <paramref name="node"/> is the list.</summary>
    public List<string> ReadGpus(YamlNode node, string field, string resource)
    {
        var entries = context.Sequence(node, field);
        if (entries.Count == 0)
            throw context.Invalid(node, field, "must not be empty (use [\"*\"] for every GPU no other resource names)");
        var gpus = new List<string>(entries.Count);
        foreach (var entry in entries)
            gpus.Add(Claim(entry, context.Scalar(entry, field, "\"*\", a GPU UUID or a GPU index"), entries.Count, field, resource));
        return gpus;
    }

    /// <summary>A resource that lists no GPUs takes <c>"*"</c>; its own node (<paramref name="item"/>) stands for the entry.</summary>
    public List<string> AllGpus(YamlNode item, string field, string resource) =>
        [Claim(item, ResourceSharing.AllGpus, 1, field, resource)];

    private string Claim(YamlNode entry, string raw, int listLength, string field, string resource)
    {
        if (!ConfigValues.TryNormalizeGpu(raw, out var gpu, out var kind))
            throw context.Invalid(entry, field, ConfigValues.NotAGpu(raw));
        if (kind == GpuEntryKind.All && listLength > 1)
            throw context.Invalid(entry, field, "'*' cannot be mixed with other entries: it already means every GPU no other resource names");
        var key = kind switch { GpuEntryKind.Uuid => "uuid " + gpu, GpuEntryKind.Index => "index " + gpu, _ => gpu };
        if (_gpus.TryGetValue(key, out var first))
        {
            throw context.Invalid(entry, field, first.Resource == resource
                ? $"{ConfigText.Quote(raw)} is listed twice (also on line {first.Line})"
                : kind == GpuEntryKind.All
                    ? $"'*' is already used by {first.Resource} (line {first.Line}); only one resource can take the GPUs no other resource names (a resource without {field} takes \"*\")"
                    : $"{ConfigText.Quote(raw)} is already given to {first.Resource} (line {first.Line}); a GPU belongs to one resource");
        }
        _gpus[key] = (resource, YamlContext.LineOf(entry));
        return gpu;
    }

    public void Add(ResourceSharing resource) => _resources.Add(resource);
}
