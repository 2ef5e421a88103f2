using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;

namespace MetaGpu.Logging;

/// <summary>
/// The product's loggers: Microsoft.Extensions.Logging.Console with its simple (text) or systemd formatter, or
/// <see cref="JsonLineFormatter"/> for JSON. Lines are written by the console provider's own thread, so a burst of
/// events never blocks the caller on a slow pipe; dispose the factory before the process exits, which drains the queue.
/// </summary>
public static class ConsoleLogs
{
    public static ILoggerFactory Create(LogFormat format, LogLevel minimum = LogLevel.Information) =>
        LoggerFactory.Create(builder =>
        {
            builder.SetMinimumLevel(minimum);
            switch (format)
            {
                case LogFormat.Json:
                    // Registered as a service, not with AddConsoleFormatter: that one binds its options from
                    // configuration by reflection, which native AOT cannot promise (IL2026/IL3050).
                    builder.Services.TryAddEnumerable(ServiceDescriptor.Singleton<ConsoleFormatter, JsonLineFormatter>(_ => new JsonLineFormatter()));
                    builder.AddConsole(o => o.FormatterName = JsonLineFormatter.FormatterName);
                    break;
                case LogFormat.Systemd:
                    // journald stamps the time itself.
                    builder.AddSystemdConsole(o => o.TimestampFormat = null);
                    break;
                default:
                    builder.AddSimpleConsole(o =>
                    {
                        o.SingleLine = true;
                        o.UseUtcTimestamp = true;
                        o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ ";
                        o.ColorBehavior = LoggerColorBehavior.Disabled;
                    });
                    break;
            }
            // Every level to standard error: standard output is the commands' own (gpus -o json).
            builder.AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
        });
}
