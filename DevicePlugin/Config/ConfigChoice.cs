namespace MetaGpu.DevicePlugin.Config;

/// <summary>
/// The spellings of an enum in the config file and on the command line. A table, not <c>Enum.Parse</c>, because the
/// YAML names (<c>cdi-cri</c>) are not the C# names and matching is exact, so a typo is an error.
/// </summary>
internal sealed class ConfigChoice<T>(params (string Name, T Value)[] items) where T : struct, Enum
{
    public string Allowed { get; } = NamesOf(items);

    public bool TryParse(string raw, out T value)
    {
        foreach (var (name, v) in items)
        {
            if (string.Equals(name, raw, StringComparison.Ordinal))
            {
                value = v;
                return true;
            }
        }
        value = default;
        return false;
    }

    public string NameOf(T value)
    {
        foreach (var (name, v) in items)
        {
            if (EqualityComparer<T>.Default.Equals(v, value))
                return name;
        }
        throw new ArgumentOutOfRangeException(nameof(value), value, null);
    }

    private static string NamesOf((string Name, T Value)[] items)
    {
        var names = new string[items.Length];
        for (var i = 0; i < items.Length; i++)
            names[i] = items[i].Name;
        return string.Join(", ", names);
    }

    /// <summary>The error phrase for a value that is none of them.</summary>
    public string NotOneOf(string raw) => $"{ConfigText.Quote(raw)} is not one of {Allowed}";
}

/// <summary>The choices of the sharing config.</summary>
internal static class ConfigChoices
{
    public static readonly ConfigChoice<AllocationPolicyKind> Policy =
        new(("packed", AllocationPolicyKind.Packed), ("spread", AllocationPolicyKind.Spread));

    public static readonly ConfigChoice<SpanningMode> Spanning =
        new(("allow", SpanningMode.Allow), ("reject", SpanningMode.Reject));

    public static readonly ConfigChoice<DeviceListStrategy> DeviceListStrategy =
        new(("envvar", Config.DeviceListStrategy.EnvVar), ("cdi-cri", Config.DeviceListStrategy.CdiCri),
            ("cdi-annotations", Config.DeviceListStrategy.CdiAnnotations));

    public static readonly ConfigChoice<EnforcementMode> Enforcement =
        new(("off", EnforcementMode.Off), ("report", EnforcementMode.Report), ("kill", EnforcementMode.Kill));
}
