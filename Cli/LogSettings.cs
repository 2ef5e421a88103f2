using MetaGpu.Logging;

namespace MetaGpu.Cli;

/// <summary><c>--log-format</c>, else <c>METAGPU_LOG_FORMAT</c>, else text.</summary>
public static class LogSettings
{
    public static LogFormat Format(string? flag)
    {
        var setting = Setting.Of(flag, "--log-format", LogFormats.Variable);
        if (setting.Value is null)
            return LogFormat.Text;
        return LogFormats.TryParse(setting.Value, out var format)
            ? format
            : throw setting.Invalid($"'{setting.Value}' is not one of {LogFormats.Allowed}");
    }
}
