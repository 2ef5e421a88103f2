using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace MetaGpu.Tests.DevicePlugin.Allocations;

/// <summary>A logger that keeps every event (level and formatted message) for the test to count.</summary>
public sealed class RecordingLog : ILogger
{
    public ConcurrentQueue<(LogLevel Level, string Message)> Events { get; } = new();

    public IEnumerable<string> At(LogLevel level) => Events.Where(e => e.Level == level).Select(e => e.Message);

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
        Events.Enqueue((logLevel, formatter(state, exception)));
}
