namespace MetaGpu.DevicePlugin.Config;

/// <summary>
/// The most a config file may be, checked before anything is built from it, so no input (a careless edit, a path
/// pointed at the wrong file, or a hostile ConfigMap) can crash, hang or bloat the daemon. Each is far beyond what a
/// real config needs (a few hundred bytes, four levels deep, a few dozen nodes) and is in docs/configuration.md.
/// </summary>
public static class ConfigLimits
{
    /// <summary>A ConfigMap holds at most 1 MiB in all, so no real config is larger.</summary>
    public const int MaxFileBytes = 1024 * 1024;

    public const string MaxFileText = "1 MiB";

    /// <summary>
    /// Lists and mappings inside each other. YamlDotNet's representation model builds them by recursion (and hashes
    /// mapping keys recursively), so without this bound 60,000 brackets overflowed the stack. The settings need 4.
    /// </summary>
    public const int MaxDepth = 64;

    /// <summary>
    /// Nodes in the document, counting an alias as the whole node it repeats, so an alias bomb ("billion laughs") is
    /// refused before anything walks it. A config with every GPU of a large node listed by UUID needs a few hundred.
    /// </summary>
    public const int MaxNodes = 10_000;

    /// <summary>A safety net over the bounds above, which already keep parsing to milliseconds.</summary>
    public static readonly TimeSpan MaxParseTime = TimeSpan.FromSeconds(5);

    /// <summary>How much of a wrong value an error repeats (see <see cref="ConfigText.Quote"/>).</summary>
    public const int MaxQuoted = 40;
}
