using ConsoleAppFramework;
using MetaGpu.Control.Cli;

namespace MetaGpu.Cli;

/// <summary>
/// <c>metagpu ctl</c>, the binary invoked as <c>mgctl</c>: the in-container CLI (Control/Cli). Program.Main hands its
/// arguments to <see cref="MgctlApp"/> before the generated parser sees them, since mgctl parses its own nested verbs;
/// this class puts it in the overview's list of commands.
/// </summary>
public sealed class CtlCommand
{
    public static readonly CommandInfo Info = new("ctl", "Run 'metagpu ctl help' for its commands, options and exit codes.\n");

    /// <summary>mgctl, the in-container CLI: get devices, get processes, kill, info, ping (also when invoked as mgctl)</summary>
    /// <param name="arguments">its command and options, e.g. get processes -o json</param>
    [Command("ctl")]
    public int Run([Argument] params string[] arguments) => MgctlApp.RunProcess(arguments, "metagpu ctl");
}
