namespace MetaGpu.Control.Cli;

/// <summary>
/// mgctl's exit codes, so that a script can tell "the daemon is away" (retry) from "you may not" (do not retry) from
/// "you typed it wrong". They differ from the <c>metagpu</c> commands' above 2: mgctl has no NVML.
/// </summary>
public static class MgctlExitCodes
{
    public const int Ok = 0;

    /// <summary>The daemon answered with an error (NOT_FOUND, INVALID_ARGUMENT, INTERNAL, …), or mgctl failed.</summary>
    public const int Failure = 1;

    /// <summary>Unknown command or option, stray argument, invalid value: nothing was asked of the daemon.</summary>
    public const int Usage = 2;

    /// <summary>No socket, nobody listening, no answer in time, UNAVAILABLE: worth retrying.</summary>
    public const int Unreachable = 3;

    /// <summary>The daemon said PERMISSION_DENIED (its message says why).</summary>
    public const int PermissionDenied = 4;

    /// <summary>A one-shot command stopped by Ctrl-C, as shells count 128 + SIGINT. A watch stopped by Ctrl-C exits 0.</summary>
    public const int Interrupted = 130;

    /// <summary>The lines of the help that list them.</summary>
    public const string Help = """
        Exit codes:
          0   done
          1   the daemon answered with an error (e.g. no such process), or mgctl failed
          2   usage: unknown command or option, stray argument, invalid value
          3   cannot reach the daemon: no socket, nobody listening, no answer in time (retry later)
          4   permission denied by the daemon (the message says why)
          130 interrupted by Ctrl-C (a watch stopped by Ctrl-C exits 0)
        """;
}
