using MetaGpu.Logging;
using Microsoft.Extensions.Logging;

namespace MetaGpu.Cli;

/// <summary>
/// How a command's errors reach a person: one line on standard error, <c>metagpu start: …</c>; or, when the command
/// logs and its log format is JSON or systemd, a log event in that format, so that a log pipeline that parses every
/// line of a JSON log never meets a plain-text one (a missing NVML, a bad <c>--simulate</c>, a bug of ours).
/// </summary>
public static class CommandErrors
{
    /// <summary>The format of the command being run; set by the dispatcher before it runs the command.</summary>
    public static LogFormat Format { get; set; } = LogFormat.Text;

    public static int Report(string command, string message, int exitCode)
    {
        if (Format == LogFormat.Text)
        {
            Console.Error.WriteLine($"metagpu {command}: {message}");
            return exitCode;
        }
        // Disposing the factory drains the console provider's queue: the line is out before the process exits.
        using var logs = ConsoleLogs.Create(Format);
        logs.CreateLogger("metagpu").LogError("metagpu {Command}: {Error}", command, message);
        return exitCode;
    }

    public static int Usage(string command, string message) =>
        Report(command, $"{message}\nsee 'metagpu {command} --help' for its options", ExitCodes.Usage);

    /// <summary>Runs a command's body: a usage mistake is exit 2, anything unexpected one clear error and exit 1.</summary>
    public static int Guard(string command, Func<int> body)
    {
        try
        {
            return body();
        }
        catch (UsageException e)
        {
            return Usage(command, e.Message);
        }
        catch (Exception e)
        {
            // A bug of ours: say so in one event (the details follow) rather than abort.
            return Report(command, $"unexpected error: {e.GetType().Name}: {e.Message}\n{e}", ExitCodes.Failure);
        }
    }
}
