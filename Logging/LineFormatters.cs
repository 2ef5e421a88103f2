using System.Globalization;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Logging.Console;

namespace MetaGpu.Logging;

/// <summary>
/// The text format: one line per event, <c>2026-12-01T18:02:08.926Z info: metagpu[0] message</c>, the time in UTC,
/// no colours; line breaks in the message or the exception become spaces. The same line the console provider's
/// simple formatter writes with <c>SingleLine</c>, <c>UseUtcTimestamp</c> and that timestamp format (the tests
/// compare the two); ours is constructed directly, without the dependency-injection container that the provider's
/// own formatters need, which costs the binary about 0.2 MB of reflection and container code.
/// </summary>
public sealed class TextLineFormatter() : ConsoleFormatter(FormatterName)
{
    public const string FormatterName = "metagpu-text";
    public const string TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ ";

    public override void Write<TState>(in LogEntry<TState> logEntry, IExternalScopeProvider? scopeProvider, TextWriter textWriter)
    {
        var message = logEntry.Formatter(logEntry.State, logEntry.Exception);
        if (logEntry.Exception is null && message is null)
            return;
        textWriter.Write(DateTimeOffset.UtcNow.ToString(TimestampFormat, CultureInfo.InvariantCulture));
        textWriter.Write(LevelName(logEntry.LogLevel));
        textWriter.Write(": ");
        LineText.WriteCategory(textWriter, logEntry.Category, logEntry.EventId.Id);
        LineText.WriteRest(textWriter, message, logEntry.Exception);
    }

    /// <summary>The simple formatter's four-letter level names.</summary>
    public static string LevelName(LogLevel level) => level switch
    {
        LogLevel.Trace => "trce",
        LogLevel.Debug => "dbug",
        LogLevel.Information => "info",
        LogLevel.Warning => "warn",
        LogLevel.Error => "fail",
        _ => "crit",
    };
}

/// <summary>
/// The systemd format: <c>&lt;6&gt;metagpu[0] message</c>, the syslog priority (RFC 5424 severities) that journald reads,
/// and no time (journald stamps it). The same line as the console provider's systemd formatter without a timestamp.
/// </summary>
public sealed class SystemdLineFormatter() : ConsoleFormatter(FormatterName)
{
    public const string FormatterName = "metagpu-systemd";

    public override void Write<TState>(in LogEntry<TState> logEntry, IExternalScopeProvider? scopeProvider, TextWriter textWriter)
    {
        var message = logEntry.Formatter(logEntry.State, logEntry.Exception);
        if (logEntry.Exception is null && message is null)
            return;
        textWriter.Write(Priority(logEntry.LogLevel));
        LineText.WriteCategory(textWriter, logEntry.Category, logEntry.EventId.Id);
        LineText.WriteRest(textWriter, message, logEntry.Exception);
    }

    public static string Priority(LogLevel level) => level switch
    {
        LogLevel.Trace or LogLevel.Debug => "<7>",
        LogLevel.Information => "<6>",
        LogLevel.Warning => "<4>",
        LogLevel.Error => "<3>",
        _ => "<2>",
    };
}

/// <summary>What the two line formats share.</summary>
internal static class LineText
{
    public static void WriteCategory(TextWriter writer, string category, int eventId)
    {
        writer.Write(category);
        writer.Write('[');
        writer.Write(eventId.ToString(CultureInfo.InvariantCulture));
        writer.Write(']');
    }

    /// <summary>The message and the exception, each after a space, line breaks as spaces, then the line's end.</summary>
    public static void WriteRest(TextWriter writer, string? message, Exception? exception)
    {
        if (!string.IsNullOrEmpty(message))
        {
            writer.Write(' ');
            WriteOneLine(writer, message);
        }
        if (exception is not null)
        {
            writer.Write(' ');
            WriteOneLine(writer, exception.ToString());
        }
        writer.Write('\n');
    }

    private static void WriteOneLine(TextWriter writer, string text) =>
        writer.Write(text.Contains('\n', StringComparison.Ordinal) ? text.Replace("\n", " ", StringComparison.Ordinal) : text);
}
