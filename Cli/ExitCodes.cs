namespace MetaGpu.Cli;

/// <summary>The exit codes every command shares, so scripts and probes can tell the cases apart.</summary>
public static class ExitCodes
{
    public const int Ok = 0;

    /// <summary>The command ran and failed: a bad config file, a socket not serving, NVML failing.</summary>
    public const int Failure = 1;

    /// <summary>The command line or a METAGPU_* variable is wrong: nothing was started.</summary>
    public const int Usage = 2;

    /// <summary>No NVML library could be loaded, or the file given is not NVML.</summary>
    public const int NoNvml = 4;

    /// <summary>Stopped by Ctrl-C before it finished (<c>demo</c>), as shells count 128 + SIGINT.</summary>
    public const int Interrupted = 130;

    /// <summary>The lines of a command's help that list them.</summary>
    public static string Help(params (int Code, string Meaning)[] codes)
    {
        var help = "Exit codes:\n";
        foreach (var (code, meaning) in codes)
            help += $"  {code,-3} {meaning}\n";
        return help;
    }
}
