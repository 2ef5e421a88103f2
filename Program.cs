using ConsoleAppFramework;
using MetaGpu.Cli;
using MetaGpu.Control.Cli;

namespace MetaGpu;

/// <summary>
/// Entry point: the commands and the dispatch. A new command is a file in Cli/ (its options, help and exit codes) and
/// two lines here: its <see cref="CommandInfo"/> in <see cref="Commands"/> and its class in the parser.
/// </summary>
public static class Program
{
    public static IReadOnlyList<CommandInfo> Commands { get; } =
    [
        StartCommand.Info, DemoCommand.Info, GpusCommand.Info, CtlCommand.Info, ServeCommand.Info, ProbeCommand.Info, VersionCommand.Info,
    ];

    public static int Main(string[] args)
    {
        // mgctl first, before anything the daemon's commands set up: a call from a container should cost little
        // more than the process's start. 'metagpu ctl' passes its arguments on untouched, options and all.
        var invokedAs = Path.GetFileNameWithoutExtension(Environment.GetCommandLineArgs()[0]);
        if (string.Equals(invokedAs, "mgctl", StringComparison.Ordinal))
            return MgctlApp.RunProcess(args, "mgctl");
        if (args.Length > 0 && args[0] == CtlCommand.Info.Name)
            return MgctlApp.RunProcess(args[1..], "metagpu ctl");

        ConsoleApp.Version = $"metagpu {Version}"; // what "metagpu <command> --version" prints
        var app = ConsoleApp.Create();
        app.Add<StartCommand>();
        app.Add<DemoCommand>();
        app.Add<GpusCommand>();
        app.Add<CtlCommand>();
        app.Add<ServeCommand>();
        app.Add<ProbeCommand>();
        app.Add<VersionCommand>();
        return CommandLine.Run(args, Commands, a => app.Run(a));
    }

    public static string Version => BuildInfo.Version;
}
