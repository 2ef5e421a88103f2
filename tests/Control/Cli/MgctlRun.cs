using MetaGpu.Control.Cli;

namespace MetaGpu.Tests.Control.Cli;

/// <summary>mgctl run in-process, as a person would run it, with its output collected.</summary>
public static class MgctlRun
{
    public sealed record Result(int ExitCode, string Stdout, string Stderr)
    {
        public override string ToString() => $"exit {ExitCode}\n--- stdout:\n{Stdout}\n--- stderr:\n{Stderr}";
    }

    /// <summary>The tests' clock: fixed (so "3s ago" is stable), with real timers (so backoff delays pass).</summary>
    public sealed class FixedClock(DateTimeOffset now) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => now;

        public override TimeZoneInfo LocalTimeZone => TimeZoneInfo.Utc;
    }

    /// <summary>Not a terminal, no NO_COLOR, the socket by METAGPU_CTL_SOCKET, the fixed clock, version 0.1.0.</summary>
    public static MgctlEnvironment Env(string? socket, CancellationToken interrupt = default) => new()
    {
        SocketVariable = socket,
        Time = new FixedClock(Scenarios.Now),
        ClientVersion = "0.1.0",
        Interrupt = interrupt,
    };

    public static async Task<Result> RunAsync(MgctlEnvironment env, params string[] args)
    {
        var stdout = new StringWriter { NewLine = "\n" };
        var stderr = new StringWriter { NewLine = "\n" };
        var code = await MgctlApp.RunAsync(args, stdout, stderr, env).WaitAsync(TimeSpan.FromSeconds(60));
        return new Result(code, stdout.ToString(), stderr.ToString());
    }

    public static Task<Result> RunAsync(StandInDaemon daemon, params string[] args) => RunAsync(Env(daemon.SocketPath), args);
}
