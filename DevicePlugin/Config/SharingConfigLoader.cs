namespace MetaGpu.DevicePlugin.Config;

/// <summary>
/// Reads the sharing config and layers the overrides on it. Precedence is flags over environment over file:
/// <c>Apply(Apply(Load(path), FromEnvironment(get), EnvironmentSource), flags, FlagsSource)</c>.
/// Everything is validated as it is read, and every failure is a <see cref="ConfigException"/> naming where it is.
/// </summary>
public static class SharingConfigLoader
{
    /// <summary>The source name for <see cref="Apply"/> with <see cref="FromEnvironment"/>'s overrides.</summary>
    public const string EnvironmentSource = "environment";

    /// <summary>The source name for <see cref="Apply"/> with the command line's overrides.</summary>
    public const string FlagsSource = "flags";

    /// <summary>A config file's text; <paramref name="sourceName"/> (e.g. the path) begins every error and warning.</summary>
    public static SharingConfig Parse(string yaml, string sourceName) => ConfigFileReader.Read(yaml, sourceName);

    /// <summary>
    /// The config in the file at <paramref name="path"/>; no path means <see cref="SharingConfig.Default"/>. Only a regular
    /// file within <see cref="ConfigLimits"/> is read, and the read never blocks (see <see cref="ConfigFile"/>).
    /// </summary>
    public static SharingConfig Load(string? path)
    {
        if (path is null)
            return SharingConfig.Default;
        if (path.Length == 0)
            throw new ConfigException("config file", "the path is empty");
        if (!ConfigFile.TryRead(path, out var bytes, out var problem))
            throw new ConfigException(path, problem!);
        return Parse(ConfigFile.Decode(bytes), path);
    }

    /// <summary>
    /// The <c>METAGPU_*</c> overrides. A variable set to an empty string counts as not set, as Kubernetes manifests
    /// often template such values.
    /// </summary>
    public static ConfigOverrides FromEnvironment(Func<string, string?> getEnv)
    {
        var labels = OverrideLabels.Environment;
        string? Get(string name) => getEnv(name)?.Trim() is { Length: > 0 } value ? value : null;

        int? metaGpus = null;
        if (Get(labels.MetaGpus) is { } raw)
        {
            metaGpus = ConfigValues.TryParseInt(raw, out var n)
                ? n
                : throw new ConfigException(labels.MetaGpus, ConfigValues.MetaGpusNotAnInteger(ConfigText.Quote(raw)));
        }
        return new ConfigOverrides(
            Get(labels.Policy), Get(labels.Spanning), Get(labels.DeviceListStrategy), Get(labels.ResourceName), metaGpus,
            Get(labels.IgnoreXids), Get(labels.UnignoreXids), Get(labels.Enforcement), Get(labels.GracePeriod));
    }

    /// <summary>
    /// <paramref name="config"/> with the given overrides in place of its values, checked like the file's. An XID list
    /// replaces the one below it; an XID it names leaves the opposite list below it, so the higher source wins.
    /// </summary>
    /// <param name="sourceName"><see cref="EnvironmentSource"/> or <see cref="FlagsSource"/>, whose errors name the variable or flag.</param>
    public static SharingConfig Apply(SharingConfig config, ConfigOverrides overrides, string sourceName)
    {
        if (overrides.IsEmpty)
            return config;
        var labels = OverrideLabels.For(sourceName);
        var result = config with { Source = $"{config.Source} + {sourceName}" };

        if (overrides.Policy is { } policy)
            result = result with { Policy = Choose(ConfigChoices.Policy, policy, labels.Policy) };
        if (overrides.Spanning is { } spanning)
            result = result with { Spanning = Choose(ConfigChoices.Spanning, spanning, labels.Spanning) };
        if (overrides.DeviceListStrategy is { } strategy)
            result = result with { DeviceListStrategy = Choose(ConfigChoices.DeviceListStrategy, strategy, labels.DeviceListStrategy) };

        if (overrides.ResourceName is not null || overrides.MetaGpus is not null)
            result = result with { Resources = [OverrideResource(config, overrides, labels)] };

        if (overrides.IgnoreXids is not null || overrides.UnignoreXids is not null)
            result = result with { Health = OverrideXids(config.Health, overrides, labels) };

        if (overrides.Enforcement is { } enforcement)
            result = result with { Memory = result.Memory with { Enforcement = Choose(ConfigChoices.Enforcement, enforcement, labels.Enforcement) } };
        if (overrides.GracePeriod is { } grace)
        {
            if (!GoDuration.TryParse(grace, out var period))
                throw new ConfigException(labels.GracePeriod, ConfigValues.NotADuration(grace));
            result = result with { Memory = result.Memory with { GracePeriod = period } };
        }
        return result;
    }

    private static T Choose<T>(ConfigChoice<T> choice, string raw, string label) where T : struct, Enum =>
        choice.TryParse(raw, out var value) ? value : throw new ConfigException(label, choice.NotOneOf(raw));

    /// <summary>One name and size can only mean something when there is one resource to give them to.</summary>
    private static ResourceSharing OverrideResource(SharingConfig config, ConfigOverrides overrides, OverrideLabels labels)
    {
        var label = overrides.ResourceName is not null ? labels.ResourceName : labels.MetaGpus;
        if (config.Resources.Count != 1)
            throw new ConfigException(label, $"applies only when the config has exactly one resource ({config.Source} has {config.Resources.Count}); set it per resource in the file");
        var resource = config.Resources[0];
        if (overrides.ResourceName is { } name)
        {
            if (ConfigValues.CheckResourceName(name) is { } why)
                throw new ConfigException(labels.ResourceName, why);
            resource = resource with { ResourceName = name };
        }
        if (overrides.MetaGpus is { } metaGpus)
        {
            if (ConfigValues.CheckMetaGpus(metaGpus) is { } why)
                throw new ConfigException(labels.MetaGpus, why);
            resource = resource with { MetaGpus = metaGpus };
        }
        return resource;
    }

    private static HealthSettings OverrideXids(HealthSettings health, ConfigOverrides overrides, OverrideLabels labels)
    {
        var ignore = ParseXids(overrides.IgnoreXids, labels.IgnoreXids);
        var unignore = ParseXids(overrides.UnignoreXids, labels.UnignoreXids);
        foreach (var xid in unignore ?? [])
        {
            if (ignore is not null && ignore.Contains(xid))
                throw new ConfigException(labels.UnignoreXids, $"'{xid}' is also in {labels.IgnoreXids}; an XID is either added to the ignored set or removed from it");
        }
        if (ignore is not null)
            health = health with { IgnoreXids = ignore, UnignoreXids = Without(health.UnignoreXids, ignore) };
        if (unignore is not null)
            health = health with { UnignoreXids = unignore, IgnoreXids = Without(health.IgnoreXids, unignore) };
        return health;
    }

    private static List<ulong> Without(IReadOnlyList<ulong> xids, List<ulong> remove)
    {
        var kept = new List<ulong>(xids.Count);
        foreach (var xid in xids)
        {
            if (!remove.Contains(xid))
                kept.Add(xid);
        }
        return kept;
    }

    private static List<ulong>? ParseXids(string? raw, string label)
    {
        if (raw is null)
            return null;
        return ConfigValues.TryParseXidList(raw, out var xids, out var error) ? xids : throw new ConfigException(label, error!);
    }
}
