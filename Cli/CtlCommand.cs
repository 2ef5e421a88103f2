using ConsoleAppFramework;

namespace MetaGpu.Cli;

/// <summary><c>metagpu ctl</c>, also the binary invoked as <c>mgctl</c>: the in-container CLI, not in this version.</summary>
public sealed class CtlCommand
{
    public static readonly CommandInfo Info = new("ctl", ExitCodes.Help((ExitCodes.NotBuilt, "always, in this version")));

    /// <summary>the in-container CLI, also when invoked as mgctl (not built yet)</summary>
    /// <param name="arguments">its command and options</param>
    [Command("ctl")]
    public int Run([Argument] params string[] arguments) => NotBuilt();

    public static int NotBuilt() => CommandErrors.Report(Info.Name, "not built yet in this version", ExitCodes.NotBuilt);
}
