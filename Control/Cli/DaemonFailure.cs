using Grpc.Core;

namespace MetaGpu.Control.Cli;

/// <summary>
/// What a failed call means to the person in the container, and what to do: the socket's absence says "no MetaGPU
/// resource here" (its directory is mounted with the resource) or "the daemon is down"; a refusal says it is
/// restarting; the daemon's own refusals (PERMISSION_DENIED, NOT_FOUND, …) carry its reason.
/// </summary>
public static class DaemonFailure
{
    /// <summary>Longest part of the daemon's message repeated: it is the daemon's text, but nobody reads a page of it.</summary>
    private const int MaxDetail = 500;

    private const string CheckTheDaemon =
        "retry in a few seconds; if it stays away, check the metagpu DaemonSet pod on this node (kubectl -n metagpu-system get pods -o wide)";

    public static DaemonCallException Describe(StatusCode code, string? detail, string socketPath, TimeSpan timeout, bool interrupted)
    {
        var why = Text.Printable(detail, MaxDetail);
        if (interrupted)
            return new(MgctlExitCodes.Interrupted, "interrupted", code);
        return code switch
        {
            StatusCode.Unavailable => new(MgctlExitCodes.Unreachable, Unreachable(socketPath, why, timeout), code),
            StatusCode.DeadlineExceeded => new(MgctlExitCodes.Unreachable,
                $"the daemon did not answer within {Duration(timeout)}: it may be busy or restarting; retry, or allow more time with --timeout", code),
            StatusCode.PermissionDenied => new(MgctlExitCodes.PermissionDenied, $"permission denied: {Or(why, "the daemon gave no reason")}", code),
            StatusCode.NotFound => new(MgctlExitCodes.Failure, Or(why, "not found"), code),
            StatusCode.InvalidArgument => new(MgctlExitCodes.Failure, $"the daemon refused the request: {Or(why, "invalid argument")}", code),
            StatusCode.Internal => new(MgctlExitCodes.Failure,
                $"the daemon failed: {Or(why, "internal error")} (the metagpu pod's log on this node says more)", code),
            StatusCode.Unimplemented => new(MgctlExitCodes.Failure,
                $"the daemon does not know this call ({Or(why, "unimplemented")}): is it older than this mgctl? 'mgctl version' shows both", code),
            StatusCode.Cancelled => new(MgctlExitCodes.Unreachable, $"the call was cancelled: {Or(why, "no reason given")}; {CheckTheDaemon}", code),
            _ => new(MgctlExitCodes.Failure, $"the daemon answered {code}: {Or(why, "no reason given")}", code),
        };
    }

    /// <summary>
    /// UNAVAILABLE from connecting, told apart by what is at the path: nothing and no directory (no MetaGPU resource in
    /// this pod), nothing in the mounted directory (the daemon is down), a socket nobody accepts on (restarting).
    /// </summary>
    private static string Unreachable(string socketPath, string why, TimeSpan timeout)
    {
        if (!File.Exists(socketPath) && !Directory.Exists(socketPath))
        {
            var directory = Path.GetDirectoryName(socketPath);
            return directory is { Length: > 0 } && Directory.Exists(directory)
                ? $"no MetaGPU socket at {socketPath}, though its directory is there: the daemon is not running (or restarting); {CheckTheDaemon}"
                : $"no MetaGPU socket at {socketPath}: is this a pod with a MetaGPU resource limit (cnvrg.io/metagpu by default)?";
        }
        if (why.Contains("ConnectionRefused", StringComparison.Ordinal))
            return $"the MetaGPU daemon is not answering at {socketPath} (connection refused: nothing listens there): it may be restarting; {CheckTheDaemon}";
        if (why.Contains("AccessDenied", StringComparison.Ordinal) || why.Contains("Permission denied", StringComparison.OrdinalIgnoreCase))
            return $"cannot open {socketPath}: the file system denies it (the daemon makes it mode 0666); check --socket, and the metagpu DaemonSet on this node";
        if (why.Contains("timed out", StringComparison.Ordinal))
            return $"the daemon did not accept a connection at {socketPath} within {Duration(timeout)}: it may be busy or restarting; {CheckTheDaemon}";
        return $"the daemon at {socketPath} is unavailable ({Or(why, "no reason given")}): it may be restarting; {CheckTheDaemon}";
    }

    private static string Or(string text, string fallback) => text.Length > 0 ? text : fallback;

    /// <summary>5s, 1m30s, 500ms: as --timeout takes it.</summary>
    public static string Duration(TimeSpan t)
    {
        if (t.Ticks % TimeSpan.TicksPerSecond != 0 || t < TimeSpan.FromSeconds(1))
            return $"{(long)t.TotalMilliseconds}ms";
        var s = (long)t.TotalSeconds;
        return s < 60 ? $"{s}s" : s % 60 == 0 ? $"{s / 60}m" : $"{s / 60}m{s % 60}s";
    }
}
