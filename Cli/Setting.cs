namespace MetaGpu.Cli;

/// <summary>
/// A value from a flag or, when the flag is not given, from its environment variable (empty counts as not set, as
/// manifests often template such values). <see cref="Source"/> names whichever gave it, so an error says what to fix:
/// <c>METAGPU_LOG_FORMAT=xml</c>, not <c>--log-format</c>.
/// </summary>
public readonly record struct Setting(string? Value, string Source)
{
    public static Setting Of(string? flagValue, string flag, string variable, Func<string, string?>? getEnvironment = null)
    {
        if (flagValue is not null)
            return new Setting(flagValue, flag);
        var fromEnvironment = (getEnvironment ?? Environment.GetEnvironmentVariable)(variable);
        return string.IsNullOrEmpty(fromEnvironment) ? new Setting(null, flag) : new Setting(fromEnvironment, variable);
    }

    /// <summary><c>--flag: message</c> or <c>VARIABLE=value: message</c>.</summary>
    public UsageException Invalid(string message) =>
        new(Source.StartsWith('-') ? $"{Source}: {message}" : $"{Source}={Shorten(Value)}: {message}");

    private static string Shorten(string? value) => value is { Length: > 40 } ? value[..40] + "…" : value ?? "";
}
