using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging;

namespace MetaGpu.Logging;

public enum LogFormat
{
    Text,
    Json,
}

/// <summary>
/// Writes <see cref="ILogger"/> events to standard error, one line per event: readable text, or JSON with the
/// structured fields for log pipelines. Standard output stays free for command output (<c>gpus -o json</c>).
/// Microsoft.Extensions.Logging.Console does this too but added 470 KB to the native binary; this is a few KB.
/// </summary>
public sealed class ConsoleLog : ILoggerFactory
{
    private readonly TextWriter _out;
    private readonly Lock _lock = new();

    public ConsoleLog(LogFormat format, LogLevel minimum = LogLevel.Information, TextWriter? output = null)
    {
        Format = format;
        Minimum = minimum;
        _out = output ?? Console.Error;
    }

    public LogFormat Format { get; }
    public LogLevel Minimum { get; }

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void AddProvider(ILoggerProvider provider) => throw new NotSupportedException("ConsoleLog has no providers");

    public void Dispose() => _out.Flush();

    private void Write(string category, LogLevel level, EventId eventId, string message, IReadOnlyList<KeyValuePair<string, object?>>? fields, Exception? exception)
    {
        var line = Format == LogFormat.Json
            ? JsonLine(category, level, eventId, message, fields, exception)
            : TextLine(category, level, message, exception);
        lock (_lock)
        {
            _out.Write(line);
            _out.Flush();
        }
    }

    private static string TextLine(string category, LogLevel level, string message, Exception? exception)
    {
        var sb = new StringBuilder(64 + message.Length);
        sb.Append(DateTime.UtcNow.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", System.Globalization.CultureInfo.InvariantCulture));
        sb.Append(' ').Append(LevelText(level)).Append(' ').Append(category).Append(": ").Append(message);
        if (exception is not null)
            sb.Append(" | ").Append(exception.ToString().ReplaceLineEndings(" | "));
        sb.Append('\n');
        return sb.ToString();
    }

    private static string JsonLine(string category, LogLevel level, EventId eventId, string message, IReadOnlyList<KeyValuePair<string, object?>>? fields, Exception? exception)
    {
        using var buffer = new MemoryStream(256);
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("time", DateTime.UtcNow.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", System.Globalization.CultureInfo.InvariantCulture));
            json.WriteString("level", LevelText(level).Trim());
            json.WriteString("category", category);
            if (eventId.Id != 0)
                json.WriteNumber("eventId", eventId.Id);
            json.WriteString("message", message);
            if (fields is not null)
            {
                foreach (var (key, value) in fields)
                {
                    if (key == "{OriginalFormat}" || key is "time" or "level" or "category" or "message" or "exception")
                        continue;
                    switch (value)
                    {
                        case null: json.WriteNull(key); break;
                        case bool b: json.WriteBoolean(key, b); break;
                        case int i: json.WriteNumber(key, i); break;
                        case long l: json.WriteNumber(key, l); break;
                        case uint u: json.WriteNumber(key, u); break;
                        case ulong ul: json.WriteNumber(key, ul); break;
                        case double d: json.WriteNumber(key, d); break;
                        default: json.WriteString(key, Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture)); break;
                    }
                }
            }
            if (exception is not null)
                json.WriteString("exception", exception.ToString());
            json.WriteEndObject();
        }
        buffer.WriteByte((byte)'\n');
        return Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length);
    }

    private static string LevelText(LogLevel level) => level switch
    {
        LogLevel.Trace => "trce",
        LogLevel.Debug => "dbug",
        LogLevel.Information => "info",
        LogLevel.Warning => "warn",
        LogLevel.Error => "fail",
        LogLevel.Critical => "crit",
        _ => "none",
    };

    private sealed class Logger(ConsoleLog owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= owner.Minimum && logLevel != LogLevel.None;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (!IsEnabled(logLevel))
                return;
            owner.Write(category, logLevel, eventId, formatter(state, exception), state as IReadOnlyList<KeyValuePair<string, object?>>, exception);
        }
    }
}
