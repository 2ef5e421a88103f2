using YamlDotNet.RepresentationModel;

namespace MetaGpu.DevicePlugin.Config;

/// <summary>
/// One mapping's entries by key. Unknown keys are refused up front, naming the allowed ones, so a typo (<c>polcy</c>)
/// is an error instead of a setting silently left at its default; keys known to be obsolete are dropped with a warning.
/// </summary>
internal sealed class YamlFields
{
    private readonly Dictionary<string, (YamlNode Key, YamlNode Value)> _entries = new(StringComparer.Ordinal);

    private YamlFields(YamlMappingNode node) => Node = node;

    public YamlMappingNode Node { get; }

    /// <param name="where">The mapping, for the error: <c>the top level</c>, <c>allocation</c>, <c>a resource</c>.</param>
    /// <param name="ignored">Obsolete keys and the warning to give for each.</param>
    /// <param name="allowedText">The allowed keys as the error lists them, when not simply <paramref name="allowed"/>.</param>
    public static YamlFields Of(YamlContext context, YamlMappingNode node, string where, IReadOnlyList<string> allowed,
        IReadOnlyDictionary<string, string>? ignored = null, string? allowedText = null)
    {
        var fields = new YamlFields(node);
        foreach (var (keyNode, value) in node.Children)
        {
            if (keyNode is not YamlScalarNode { Value: { } key })
                throw context.Error(keyNode, $"a key in {where} must be a plain name (got {YamlContext.Describe(keyNode)})");
            if (ignored is not null && ignored.TryGetValue(key, out var warning))
            {
                context.Warn(keyNode, warning);
                continue;
            }
            if (!IsOneOf(key, allowed))
                throw context.Error(keyNode, $"unknown key {ConfigText.Quote(key)} in {where} (allowed: {allowedText ?? string.Join(", ", allowed)})");
            fields._entries[key] = (keyNode, value);
        }
        return fields;
    }

    private static bool IsOneOf(string key, IReadOnlyList<string> allowed)
    {
        foreach (var a in allowed)
        {
            if (a == key)
                return true;
        }
        return false;
    }

    public YamlNode? this[string key] => _entries.TryGetValue(key, out var e) ? e.Value : null;

    public bool Has(string key) => _entries.ContainsKey(key);

    /// <summary>The key's own node, for errors about the key rather than its value.</summary>
    public YamlNode KeyNode(string key) => _entries[key].Key;
}
