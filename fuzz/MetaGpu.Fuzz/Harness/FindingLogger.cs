using Microsoft.Extensions.Logging;

namespace MetaGpu.Fuzz;

/// <summary>
/// The product logs at error level only for its own bugs ("unexpected failure serving", "gRPC handler failed"):
/// hostile input must be refused without one. Remembers the first such message; the target throws it.
/// </summary>
internal sealed class FindingLogger : ILogger
{
    /// <summary>METAGPU_FUZZ_LOG=1 prints every message on stderr, to follow what one input does (fuzz/run repro).</summary>
    private static readonly bool Verbose = Environment.GetEnvironmentVariable("METAGPU_FUZZ_LOG") == "1";

    private string? _finding;

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => Verbose || logLevel >= LogLevel.Error;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        if (Verbose)
            Console.Error.WriteLine($"[{logLevel}] {formatter(state, exception)}{(exception is null ? "" : " " + exception.GetType().Name + ": " + exception.Message)}");
        if (logLevel < LogLevel.Error)
            return;
        Interlocked.CompareExchange(ref _finding, $"{logLevel} log: {formatter(state, exception)}{(exception is null ? "" : Environment.NewLine + exception)}", null);
    }

    /// <summary>Throws the first error logged since the last call, if any.</summary>
    public void ThrowIfAny()
    {
        if (Interlocked.Exchange(ref _finding, null) is { } finding)
            throw new FuzzFinding(finding);
    }
}
