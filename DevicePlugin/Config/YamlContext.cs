using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace MetaGpu.DevicePlugin.Config;

/// <summary>
/// Reading one config file's YAML nodes by hand (the representation model, not the reflection-based deserializer, which
/// native AOT cannot use), so that every error and warning carries the file and the line of the node at fault.
/// </summary>
internal sealed class YamlContext(string source)
{
    public string Source { get; } = source;

    public List<string> Warnings { get; } = [];

    public ConfigException Error(YamlNode node, string message) => new(Source, LineOf(node), message);

    /// <summary>The 1-based line a node starts on.</summary>
    public static int LineOf(YamlNode node) => (int)Math.Min(node.Start.Line, int.MaxValue);

    /// <summary>An error about <paramref name="field"/>'s value, e.g. <c>metaGpus must be 1..1000 (got 0)</c>.</summary>
    public ConfigException Invalid(YamlNode node, string field, string phrase) => Error(node, ConfigValues.Join(field, phrase));

    public void Warn(YamlNode node, string message) => Warnings.Add($"{Source} line {LineOf(node)}: {message}");

    /// <summary>YAML's null: nothing after the colon, <c>~</c> or <c>null</c>, unquoted.</summary>
    public static bool IsNull(YamlNode node) =>
        node is YamlScalarNode { Style: ScalarStyle.Plain or ScalarStyle.Any, Value: null or "" or "~" or "null" or "Null" or "NULL" };

    /// <summary>What a node is, for "(got …)": the value itself when it is a scalar.</summary>
    public static string Describe(YamlNode node) => node switch
    {
        YamlMappingNode => "a mapping",
        YamlSequenceNode => "a list",
        _ when IsNull(node) => "nothing",
        YamlScalarNode s => ConfigText.Quote(s.Value),
        _ => node.NodeType.ToString(),
    };

    /// <summary>A single value; <paramref name="expected"/> says what it should be, for the error.</summary>
    public string Scalar(YamlNode node, string field, string expected)
    {
        if (node is YamlScalarNode scalar && !IsNull(node))
            return scalar.Value ?? "";
        throw Invalid(node, field, $"must be {expected} (got {Describe(node)})");
    }

    /// <summary>A section; an empty one (<c>health:</c> with nothing under it) is null, meaning all its defaults.</summary>
    public YamlMappingNode? Mapping(YamlNode node, string field)
    {
        if (IsNull(node))
            return null;
        return node as YamlMappingNode ?? throw Invalid(node, field, $"must be a mapping of settings (got {Describe(node)})");
    }

    /// <summary>A list; an empty value counts as an empty list (which some lists then refuse).</summary>
    public IReadOnlyList<YamlNode> Sequence(YamlNode node, string field)
    {
        if (IsNull(node))
            return [];
        if (node is YamlSequenceNode sequence)
            return [.. sequence.Children];
        throw Invalid(node, field, $"must be a list, e.g. [a, b] (got {Describe(node)})");
    }

    public T Choice<T>(YamlNode node, string field, ConfigChoice<T> choice) where T : struct, Enum
    {
        var raw = Scalar(node, field, $"one of {choice.Allowed}");
        return choice.TryParse(raw, out var value) ? value : throw Invalid(node, field, choice.NotOneOf(raw));
    }

    public int MetaGpus(YamlNode node, string field)
    {
        var raw = Scalar(node, field, $"an integer {ResourceSharing.MinMetaGpus}..{ResourceSharing.MaxMetaGpus}");
        if (!ConfigValues.TryParseInt(raw, out var value))
            throw Invalid(node, field, ConfigValues.MetaGpusNotAnInteger(ConfigText.Quote(raw)));
        return ConfigValues.CheckMetaGpus(value) is { } why ? throw Invalid(node, field, why) : value;
    }
}
