namespace MetaGpu.Logging;

/// <summary>
/// The console log's line format: readable text, the systemd journal's <c>&lt;N&gt;</c> priority prefix, or one JSON
/// object per line for log pipelines. Always on standard error: standard output stays free for command output.
/// </summary>
public enum LogFormat
{
    Text,
    Systemd,
    Json,
}

public static class LogFormats
{
    public const string Variable = "METAGPU_LOG_FORMAT";
    public const string Allowed = "text, systemd, json";

    public static bool TryParse(string? raw, out LogFormat format)
    {
        (var known, format) = raw switch
        {
            "text" => (true, LogFormat.Text),
            "systemd" => (true, LogFormat.Systemd),
            "json" => (true, LogFormat.Json),
            _ => (false, LogFormat.Text),
        };
        return known;
    }
}
