namespace MetaGpu.DevicePlugin.Config;

/// <summary>
/// A config the daemon must not start with (or, on reload, must not switch to). The message names where the mistake is
/// (file and line, environment variable or flag), the field, what is allowed and what was found, e.g.
/// <c>config.yaml line 12: metaGpus must be 1..1000 (got 0)</c>.
/// </summary>
public sealed class ConfigException : Exception
{
    /// <summary>A mistake at a line of a file.</summary>
    public ConfigException(string sourceName, int line, string message)
        : base($"{sourceName} line {line}: {message}")
    {
        SourceName = sourceName;
        Line = line;
    }

    /// <summary>A mistake with no line: a whole file, an environment variable or a flag (<paramref name="where"/>).</summary>
    public ConfigException(string where, string message, Exception? innerException = null)
        : base($"{where}: {message}", innerException)
    {
        SourceName = where;
    }

    /// <summary>The file, environment variable or flag at fault.</summary>
    public string SourceName { get; }

    /// <summary>The 1-based line in <see cref="SourceName"/>, when it is a file and the line is known.</summary>
    public int? Line { get; }
}
