using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;
using Microsoft.Extensions.Options;

namespace MetaGpu.Logging;

/// <summary>
/// The product's loggers: Microsoft.Extensions.Logging.Console's provider with one of our formatters
/// (<see cref="TextLineFormatter"/>, <see cref="SystemdLineFormatter"/>, <see cref="JsonLineFormatter"/>), every level
/// on standard error (standard output is the commands' own, e.g. <c>gpus -o json</c>).
/// </summary>
/// <remarks>
/// <para>Lines are formatted on the caller's thread and written by the provider's own thread from a bounded queue
/// (<see cref="QueueLength"/> lines). When the queue is full, because standard error is a pipe nobody reads, a line
/// is dropped rather than making the caller wait (the provider then writes how many were dropped): a kubelet call
/// must never wait for a log line. Dispose the factory before the process exits: that drains the queue.</para>
/// <para>The provider and the factory are constructed directly, not through <c>LoggerFactory.Create</c>, whose
/// dependency-injection container and options binding cost the native binary about 0.2 MB (docs/size.md).</para>
/// </remarks>
public static class ConsoleLogs
{
    public const int QueueLength = 2500;

    public static ILoggerFactory Create(LogFormat format, LogLevel minimum = LogLevel.Information)
    {
        ConsoleFormatter formatter = format switch
        {
            LogFormat.Json => new JsonLineFormatter(),
            LogFormat.Systemd => new SystemdLineFormatter(),
            _ => new TextLineFormatter(),
        };
        var options = new ConsoleLoggerOptions
        {
            FormatterName = formatter.Name,
            LogToStandardErrorThreshold = LogLevel.Trace,
            QueueFullMode = ConsoleLoggerQueueFullMode.DropWrite,
            MaxQueueLength = QueueLength,
        };
        var factory = new LoggerFactory([], new LoggerFilterOptions { MinLevel = minimum });
        // AddProvider, not the constructor's list: providers given to the constructor are not disposed with the
        // factory, and disposing the provider is what drains its queue.
        factory.AddProvider(new ConsoleLoggerProvider(new FixedOptions(options), [formatter]));
        return factory;
    }

    /// <summary>Options that never change: there is no configuration to reload them from.</summary>
    private sealed class FixedOptions(ConsoleLoggerOptions value) : IOptionsMonitor<ConsoleLoggerOptions>
    {
        public ConsoleLoggerOptions CurrentValue => value;

        public ConsoleLoggerOptions Get(string? name) => value;

        public IDisposable? OnChange(Action<ConsoleLoggerOptions, string?> listener) => null;
    }
}
