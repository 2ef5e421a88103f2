using ConsoleAppFramework;
using MetaGpu.Cli;
using MetaGpu.Logging;

namespace MetaGpu;

/// <summary>
/// Runs one command line: picks the command, answers <c>--help</c>/<c>-h</c> (the options ConsoleAppFramework generates
/// from the command's parameters, then the command's own notes: environment, signals, exit codes), and turns every
/// parse failure into a usage error, exit 2. The parsing itself is ConsoleAppFramework's, generated at build time.
/// </summary>
public static class CommandLine
{
    /// <summary>The overview's closing lines, after the list of commands.</summary>
    private static readonly string OverviewNotes = $"""
        Run 'metagpu <command> --help' for a command's options, environment variables and exit codes.
        Invoked as mgctl, the binary is 'metagpu ctl' (its own exit codes: 'mgctl help').

        {ExitCodes.Help(
            (ExitCodes.Ok, "done"),
            (ExitCodes.Failure, "failed (the message says why)"),
            (ExitCodes.Usage, "usage: unknown command or option, stray argument, invalid value"),
            (ExitCodes.NoNvml, "no NVML library"))}
        """;

    private static CommandInfo? Named(IReadOnlyList<CommandInfo> commands, string name)
    {
        foreach (var c in commands)
        {
            if (c.Name == name)
                return c;
        }
        return null;
    }

    /// <param name="args">The process's arguments.</param>
    /// <param name="commands">Every command, by name.</param>
    /// <param name="parse">ConsoleAppFramework's generated entry: parses and runs the command in its arguments.</param>
    public static int Run(string[] args, IReadOnlyList<CommandInfo> commands, Action<string[]> parse)
    {
        if (args.Length == 0)
        {
            ShowHelp(["--help"], OverviewNotes, parse, Console.Error);
            return ExitCodes.Usage;
        }
        if (args[0] is "-h" or "--help" or "help")
        {
            ShowHelp(["--help"], OverviewNotes, parse, Console.Out);
            return ExitCodes.Ok;
        }
        var name = args[0] == "--version" ? VersionCommand.Info.Name : args[0];
        var command = Named(commands, name);
        if (command is null)
        {
            Console.Error.WriteLine($"metagpu: unknown command '{Shorten(args[0])}'\n");
            ShowHelp(["--help"], OverviewNotes, parse, Console.Error);
            return ExitCodes.Usage;
        }

        var options = SplitEquals(args.AsSpan(1));
        if (options.Contains("-h") || options.Contains("--help"))
        {
            ShowHelp([command.Name, "--help"], command.Notes, parse, Console.Out);
            return ExitCodes.Ok;
        }

        CommandErrors.Format = command.HasLogFormat ? ChosenLogFormat(options) : LogFormat.Text;
        // The generated parser reports what it cannot parse here (and sets exit code 1); the commands' own errors
        // never reach it, CommandErrors.Guard has them.
        string? parseError = null;
        ConsoleApp.LogError = message => parseError ??= message ?? "";
        Environment.ExitCode = 0;
        parse([command.Name, .. options]);
        return parseError is null ? Environment.ExitCode : CommandErrors.Usage(command.Name, parseError);
    }

    /// <summary><c>--name=value</c> as <c>--name value</c>, the form the generated parser reads.</summary>
    private static List<string> SplitEquals(ReadOnlySpan<string> args)
    {
        var result = new List<string>(args.Length);
        foreach (var a in args)
        {
            var eq = a.IndexOf('=');
            if (a.StartsWith("--", StringComparison.Ordinal) && eq > 2)
            {
                result.Add(a[..eq]);
                result.Add(a[(eq + 1)..]);
            }
            else
            {
                result.Add(a);
            }
        }
        return result;
    }

    /// <summary>
    /// The log format the command will use, known before it is parsed, so that even a parse error comes out as a JSON
    /// event when JSON was asked for. An invalid one is reported by the command itself, in text.
    /// </summary>
    private static LogFormat ChosenLogFormat(List<string> options)
    {
        var at = options.LastIndexOf("--log-format");
        var raw = at >= 0 && at + 1 < options.Count ? options[at + 1] : Environment.GetEnvironmentVariable(LogFormats.Variable);
        return LogFormats.TryParse(raw, out var format) ? format : LogFormat.Text;
    }

    private static void ShowHelp(string[] helpArgs, string notes, Action<string[]> parse, TextWriter to)
    {
        // The generated help says "Usage: start [options...]": put the program's name in.
        ConsoleApp.Log = text => to.WriteLine(text.StartsWith("Usage: ", StringComparison.Ordinal) ? "Usage: metagpu " + text["Usage: ".Length..] : text);
        parse(helpArgs);
        to.WriteLine();
        to.Write(notes.TrimEnd() + "\n");
    }

    private static string Shorten(string s) => s.Length > 40 ? s[..40] + "…" : s;
}
