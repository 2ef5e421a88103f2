using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace MetaGpu.DevicePlugin.Config;

/// <summary>
/// The config file, mapped from YAML nodes to <see cref="SharingConfig"/> by hand: the <c>resources</c> form, the
/// original MetaGPU's <c>deviceSharing</c> form and its oldest flat <c>metaGpus</c>/<c>resourceName</c> form.
/// </summary>
internal static class ConfigFileReader
{
    public const string Version = "v1";

    private static readonly string[] TopLevelKeys =
        ["version", "resources", "allocation", "deviceListStrategy", "health", "memory", "deviceSharing", "metaGpus", "resourceName"];

    private const string TopLevelAllowed =
        "version, resources, allocation, deviceListStrategy, health, memory; legacy forms: deviceSharing, or metaGpus and resourceName";

    private static readonly string[] ResourceKeys = ["name", "metaGpus", "gpus"];
    private static readonly string[] DeviceSharingKeys = ["resourceName", "metaGpus", "uuid"];
    private static readonly string[] AllocationKeys = ["policy", "spanning"];
    private static readonly string[] HealthKeys = ["ignoreXids", "unignoreXids", "recoveryQuietPeriod"];
    private static readonly string[] MemoryKeys = ["enforcement", "gracePeriod"];

    public static SharingConfig Read(string yaml, string source)
    {
        var context = new YamlContext(source);
        var root = LoadRoot(yaml, source);
        if (root is null || YamlContext.IsNull(root))
        {
            return SharingConfig.Default with
            {
                Source = source,
                Warnings = [$"{source}: the file is empty; using the defaults (every GPU as {ResourceSharing.DefaultMetaGpus} {ResourceSharing.DefaultResourceName})"],
            };
        }
        if (root is not YamlMappingNode rootMapping)
            throw context.Error(root, $"the top level must be a mapping of settings (got {YamlContext.Describe(root)})");

        var top = YamlFields.Of(context, rootMapping, "the top level", TopLevelKeys, LegacyKeys.TopLevel, TopLevelAllowed);
        if (top["version"] is { } version)
        {
            var raw = context.Scalar(version, "version", Version);
            if (raw != Version)
                throw context.Invalid(version, "version", $"{ConfigText.Quote(raw)} is not supported (only {Version})");
        }

        var config = new SharingConfig { Resources = ReadResources(context, top), Source = source };
        if (top["allocation"] is { } allocationNode && context.Mapping(allocationNode, "allocation") is { } allocationMapping)
        {
            var allocation = YamlFields.Of(context, allocationMapping, "allocation", AllocationKeys);
            if (allocation["policy"] is { } policy)
                config = config with { Policy = context.Choice(policy, "policy", ConfigChoices.Policy) };
            if (allocation["spanning"] is { } spanning)
                config = config with { Spanning = context.Choice(spanning, "spanning", ConfigChoices.Spanning) };
        }
        if (top["deviceListStrategy"] is { } strategy)
            config = config with { DeviceListStrategy = context.Choice(strategy, "deviceListStrategy", ConfigChoices.DeviceListStrategy) };
        if (top["health"] is { } healthNode && context.Mapping(healthNode, "health") is { } healthMapping)
            config = config with { Health = ReadHealth(context, healthMapping) };
        if (top["memory"] is { } memoryNode && context.Mapping(memoryNode, "memory") is { } memoryMapping)
            config = config with { Memory = ReadMemory(context, memoryMapping) };

        return config with { Warnings = context.Warnings };
    }

    /// <summary>
    /// The one document's root node; null when the file holds none (empty, or only comments). The events go through
    /// <see cref="BoundedParser"/> on their way into the representation model, so the limits hold before it builds anything.
    /// </summary>
    private static YamlNode? LoadRoot(string yaml, string source)
    {
        if (yaml.Length > ConfigLimits.MaxFileBytes || System.Text.Encoding.UTF8.GetByteCount(yaml) > ConfigLimits.MaxFileBytes)
            throw new ConfigException(source, $"the text is larger than {ConfigLimits.MaxFileText}, the most a config file may be");
        var stream = new YamlStream();
        try
        {
            stream.Load(new BoundedParser(source, new StringReader(yaml)));
        }
        catch (YamlException e)
        {
            var message = $"invalid YAML at column {e.Start.Column}: {ConfigText.LibraryMessage(e.Message)}";
            throw e.Start.Line > 0 ? new ConfigException(source, (int)Math.Min(e.Start.Line, int.MaxValue), message) : new ConfigException(source, message, e);
        }
        catch (Exception e) when (e is InvalidOperationException or ArgumentException or IndexOutOfRangeException or FormatException or OverflowException)
        {
            // The parser has a few inputs it fails on without a YamlException (e.g. "[&a" then a line break); still the
            // file's fault, so still a ConfigException, if without a position.
            throw new ConfigException(source, $"invalid YAML ({e.GetType().Name}: {ConfigText.LibraryMessage(e.Message)})", e);
        }
        return stream.Documents.Count == 0 ? null : stream.Documents[0].RootNode;
    }

    private static IReadOnlyList<ResourceSharing> ReadResources(YamlContext context, YamlFields top)
    {
        var table = new ResourceTable(context);
        var flatKey = top.Has("metaGpus") ? "metaGpus" : top.Has("resourceName") ? "resourceName" : null;
        if (top.Has("resources") && top.Has("deviceSharing"))
            throw context.Error(top.KeyNode("deviceSharing"), "deviceSharing (the legacy form) cannot be mixed with resources; move its entries under resources");
        if (flatKey is not null && (top.Has("resources") || top.Has("deviceSharing")))
            throw context.Error(top.KeyNode(flatKey), $"the legacy top-level {flatKey} cannot be mixed with {(top.Has("resources") ? "resources" : "deviceSharing")}; set it per resource there");

        if (top["resources"] is { } resources)
            ReadList(context, table, resources, "resources", "a resource", ResourceKeys, null, "name", "gpus");
        else if (top["deviceSharing"] is { } deviceSharing)
            ReadList(context, table, deviceSharing, "deviceSharing", "a deviceSharing entry", DeviceSharingKeys, LegacyKeys.InDeviceSharing, "resourceName", "uuid");
        else if (flatKey is not null)
            ReadFlat(context, table, top, flatKey);
        else
            table.Add(SharingConfig.Default.Resources[0]);
        return table.Resources;
    }

    private static void ReadList(YamlContext context, ResourceTable table, YamlNode listNode, string field, string where,
        string[] keys, IReadOnlyDictionary<string, string>? ignored, string nameField, string gpusField)
    {
        var items = context.Sequence(listNode, field);
        if (items.Count == 0)
            throw context.Invalid(listNode, field, "must list at least one resource");
        foreach (var item in items)
        {
            if (item is not YamlMappingNode mapping)
                throw context.Invalid(item, field, $"entries must be mappings with {string.Join(", ", keys)} (got {YamlContext.Describe(item)})");
            var fields = YamlFields.Of(context, mapping, where, keys, ignored);
            var nameNode = fields[nameField] ?? throw context.Error(item, $"{nameField} is required in {where}");
            var name = context.Scalar(nameNode, nameField, "a resource name such as example.com/gpu");
            table.CheckName(nameNode, nameField, name);
            var metaGpus = fields["metaGpus"] is { } m ? context.MetaGpus(m, "metaGpus") : ResourceSharing.DefaultMetaGpus;
            var gpus = fields[gpusField] is { } g ? table.ReadGpus(g, gpusField, name) : table.AllGpus(item, gpusField, name);
            table.Add(new ResourceSharing(name, metaGpus, gpus, YamlContext.LineOf(item)));
        }
    }

    /// <summary>The oldest form: one resource from top-level <c>resourceName</c> and <c>metaGpus</c>, on every GPU.</summary>
    private static void ReadFlat(YamlContext context, ResourceTable table, YamlFields top, string firstKey)
    {
        var name = ResourceSharing.DefaultResourceName;
        if (top["resourceName"] is { } nameNode)
        {
            name = context.Scalar(nameNode, "resourceName", "a resource name such as example.com/gpu");
            table.CheckName(nameNode, "resourceName", name);
        }
        var metaGpus = top["metaGpus"] is { } m ? context.MetaGpus(m, "metaGpus") : ResourceSharing.DefaultMetaGpus;
        table.Add(new ResourceSharing(name, metaGpus, [ResourceSharing.AllGpus], YamlContext.LineOf(top.KeyNode(firstKey))));
    }

    private static HealthSettings ReadHealth(YamlContext context, YamlMappingNode mapping)
    {
        var fields = YamlFields.Of(context, mapping, "health", HealthKeys);
        var ignore = fields["ignoreXids"] is { } i ? ReadXids(context, i, "ignoreXids") : [];
        var unignore = fields["unignoreXids"] is { } u ? ReadXids(context, u, "unignoreXids") : [];
        foreach (var (xid, node) in unignore)
        {
            var clash = ignore.FindIndex(e => e.Xid == xid);
            if (clash >= 0)
                throw context.Invalid(node, "unignoreXids", $"'{xid}' is also in ignoreXids (line {YamlContext.LineOf(ignore[clash].Node)}); an XID is either added to the ignored set or removed from it");
        }
        var quiet = HealthSettings.DefaultRecoveryQuietPeriod;
        if (fields["recoveryQuietPeriod"] is { } q)
        {
            var raw = context.Scalar(q, "recoveryQuietPeriod", $"a duration ({GoDuration.Examples})");
            if (!GoDuration.TryParse(raw, out quiet))
                throw context.Invalid(q, "recoveryQuietPeriod", ConfigValues.NotADuration(raw));
        }
        return new HealthSettings(ignore.ConvertAll(e => e.Xid), unignore.ConvertAll(e => e.Xid), quiet);
    }

    private static MemorySettings ReadMemory(YamlContext context, YamlMappingNode mapping)
    {
        var fields = YamlFields.Of(context, mapping, "memory", MemoryKeys);
        var memory = MemorySettings.Default;
        if (fields["enforcement"] is { } mode)
            memory = memory with { Enforcement = context.Choice(mode, "enforcement", ConfigChoices.Enforcement) };
        if (fields["gracePeriod"] is { } g)
        {
            var raw = context.Scalar(g, "gracePeriod", $"a duration ({GoDuration.Examples})");
            if (!GoDuration.TryParse(raw, out var grace))
                throw context.Invalid(g, "gracePeriod", ConfigValues.NotADuration(raw));
            memory = memory with { GracePeriod = grace };
        }
        return memory;
    }

    /// <summary>Distinct XIDs with the node each came from; a repeated XID is harmless and kept once.</summary>
    private static List<(ulong Xid, YamlNode Node)> ReadXids(YamlContext context, YamlNode node, string field)
    {
        var xids = new List<(ulong, YamlNode)>();
        foreach (var entry in context.Sequence(node, field))
        {
            var raw = context.Scalar(entry, field, "an XID (a non-negative integer)");
            if (!ConfigValues.TryParseXid(raw, out var xid))
                throw context.Invalid(entry, field, ConfigValues.NotAnXid(raw));
            if (!xids.Exists(e => e.Item1 == xid))
                xids.Add((xid, entry));
        }
        return xids;
    }
}
