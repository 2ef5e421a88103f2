using System.Globalization;
using System.Text;
using MetaGpu.DevicePlugin.Config;

namespace MetaGpu.Control.Cli;

/// <summary>
/// mgctl's command line, parsed by hand: nested verbs (<c>get devices</c>) with options before or after them, as
/// kubectl takes them. Total: any argument list gives a command or a usage error that names the argument and the
/// command whose usage to show; nothing throws.
/// </summary>
public static class MgctlCommandLine
{
    /// <summary>Longest piece of an argument repeated in an error message.</summary>
    private const int MaxShown = 40;

    /// <summary>The longest timeout taken: timers cannot wait much longer than 49 days, and nobody waits a day for mgctl.</summary>
    private static readonly TimeSpan MaxTimeout = TimeSpan.FromHours(24);

    private enum OptionId
    {
        Output,
        Socket,
        Timeout,
        Help,
        Watch,
        Signal,
    }

    private sealed record Option(OptionId Id, string Long, char? Short, bool TakesValue);

    private static readonly Option[] Options =
    [
        new(OptionId.Output, "--output", 'o', true),
        new(OptionId.Socket, "--socket", null, true),
        new(OptionId.Timeout, "--timeout", null, true),
        new(OptionId.Help, "--help", 'h', false),
        new(OptionId.Watch, "--watch", 'w', false),
        new(OptionId.Signal, "--signal", 's', true),
    ];

    public static readonly string[] DeviceNames = ["devices", "device", "dev", "gpus", "gpu"];
    public static readonly string[] ProcessNames = ["processes", "process", "procs", "proc", "ps"];

    public static MgctlParse Parse(IReadOnlyList<string> args)
    {
        string? error = null;
        void Fail(string message) => error ??= message;

        var positionals = new List<string>();
        var output = OutputFormat.Table;
        string? socket = null;
        var timeout = MgctlCommand.DefaultTimeout;
        var help = false;
        string? watch = null;   // as spelled, for "not an option of" messages
        string? signalSpelled = null;
        var signal = KillSignal.Term;
        var endOfOptions = false;

        for (var i = 0; i < args.Count; i++)
        {
            var a = args[i] ?? "";
            if (endOfOptions || a.Length < 2 || a[0] != '-')
            {
                positionals.Add(a);
                continue;
            }
            if (a == "--")
            {
                endOfOptions = true;
                continue;
            }
            string name;
            string? inline = null;
            if (a[1] == '-')
            {
                var eq = a.IndexOf('=');
                name = eq > 0 ? a[..eq] : a;
                inline = eq > 0 ? a[(eq + 1)..] : null;
            }
            else
            {
                name = a[..2];
                inline = a.Length > 2 ? a[2..] : null; // -ojson, -s9
            }
            var option = Array.Find(Options, o => o.Long == name || (o.Short is { } c && name.Length == 2 && name[1] == c));
            if (option is null)
            {
                Fail($"unknown option '{Shown(name)}'");
                continue;
            }
            string value = "";
            if (option.TakesValue)
            {
                if (inline is not null)
                    value = inline;
                else if (i + 1 < args.Count)
                    value = args[++i] ?? "";
                else
                {
                    Fail($"option '{name}' needs a value{ValueHint(option.Id)}");
                    continue;
                }
            }
            else if (inline is not null)
            {
                Fail($"option '{name}' takes no value (got '{Shown(a)}')");
                continue;
            }

            switch (option.Id)
            {
                case OptionId.Help:
                    help = true;
                    break;
                case OptionId.Watch:
                    watch = name;
                    break;
                case OptionId.Output:
                    if (value is "table" or "wide" or "json")
                        output = value switch { "wide" => OutputFormat.Wide, "json" => OutputFormat.Json, _ => OutputFormat.Table };
                    else
                        Fail($"{name}: '{Shown(value)}' is not one of table, wide, json");
                    break;
                case OptionId.Socket:
                    if (SocketPathProblem(value) is { } problem)
                        Fail($"{name}: {problem}");
                    else
                        socket = value;
                    break;
                case OptionId.Timeout:
                    if (!GoDuration.TryParse(value, out var t))
                        Fail($"{name}: '{Shown(value)}' is not a duration (e.g. 500ms, 5s, 1m)");
                    else if (t <= TimeSpan.Zero || t > MaxTimeout)
                        Fail($"{name}: '{Shown(value)}' must be more than 0 and at most 24h");
                    else
                        timeout = t;
                    break;
                case OptionId.Signal:
                    signalSpelled = name;
                    if (ParseSignal(value) is { } s)
                        signal = s;
                    else
                        Fail($"{name}: '{Shown(value)}' is not one of TERM (15), KILL (9), INT (2)");
                    break;
            }
        }

        // Which command: its usage goes with any error, even one found before the command word.
        MgctlVerb? verb = null;
        var topic = HelpTopic.Overview;
        var pid = 0;
        var used = 1; // positionals the command consumed
        var word = positionals.Count > 0 ? positionals[0] : null;
        switch (word)
        {
            case null:
                if (!help)
                    Fail("no command given");
                verb = MgctlVerb.Help;
                break;
            case "get":
                topic = HelpTopic.Get;
                if (positionals.Count < 2)
                {
                    if (!help)
                        Fail("get what? give 'devices' or 'processes'");
                    break;
                }
                used = 2;
                if (DeviceNames.Contains(positionals[1]))
                    (verb, topic) = (MgctlVerb.GetDevices, HelpTopic.GetDevices);
                else if (ProcessNames.Contains(positionals[1]))
                    (verb, topic) = (MgctlVerb.GetProcesses, HelpTopic.GetProcesses);
                else
                    Fail($"unknown resource '{Shown(positionals[1])}': give 'devices' or 'processes'");
                break;
            case "ps":
                (verb, topic) = (MgctlVerb.GetProcesses, HelpTopic.GetProcesses);
                break;
            case "kill":
                (verb, topic) = (MgctlVerb.Kill, HelpTopic.Kill);
                if (positionals.Count < 2)
                {
                    if (!help)
                        Fail("kill needs a PID (the number 'mgctl get processes' shows)");
                    break;
                }
                used = 2;
                if (!TryParsePid(positionals[1], out pid))
                    Fail($"'{Shown(positionals[1])}' is not a PID: give the number 'mgctl get processes' shows (1 or more)");
                break;
            case "info":
                (verb, topic) = (MgctlVerb.Info, HelpTopic.Info);
                break;
            case "ping":
                (verb, topic) = (MgctlVerb.Ping, HelpTopic.Ping);
                break;
            case "version":
                (verb, topic) = (MgctlVerb.Version, HelpTopic.Version);
                break;
            case "help":
                verb = MgctlVerb.Help;
                topic = HelpTopic.Help;
                used = positionals.Count; // checked below
                if (positionals.Count == 1)
                    topic = HelpTopic.Overview;
                else if (TopicOf(positionals.GetRange(1, positionals.Count - 1)) is { } t)
                    topic = t;
                else
                    Fail($"no help for '{Shown(string.Join(' ', positionals.GetRange(1, positionals.Count - 1)))}': the commands are get, kill, info, ping, version, help");
                if (help)
                    topic = HelpTopic.Help; // mgctl help --help
                return error is null || help
                    ? new MgctlParse(new MgctlCommand { Verb = MgctlVerb.Help, Topic = topic, Output = output }, null, topic)
                    : new MgctlParse(null, error, HelpTopic.Help);
            default:
                return new MgctlParse(null, $"unknown command '{Shown(word)}'", HelpTopic.Overview);
        }

        if (help)
            return new MgctlParse(new MgctlCommand { Verb = MgctlVerb.Help, Topic = topic, Output = output }, null, topic);
        if (positionals.Count > used)
            Fail($"unexpected argument '{Shown(positionals[used])}'");
        if (watch is not null && verb is not MgctlVerb.GetProcesses)
            Fail($"'{watch}' is an option of 'get processes' only");
        if (signalSpelled is not null && verb is not MgctlVerb.Kill)
            Fail($"'{signalSpelled}' is an option of 'kill' only");
        if (error is not null || verb is null)
            return new MgctlParse(null, error ?? "no command given", topic);
        return new MgctlParse(new MgctlCommand
        {
            Verb = verb.Value,
            Output = output,
            Socket = socket,
            Timeout = timeout,
            Watch = watch is not null,
            Pid = pid,
            Signal = signal,
            Topic = topic,
        }, null, topic);
    }

    /// <summary>The help topic of <c>help WORDS</c>, or null when there is none.</summary>
    private static HelpTopic? TopicOf(List<string> words) => words switch
    {
        ["get"] => HelpTopic.Get,
        ["get", var r] when DeviceNames.Contains(r) => HelpTopic.GetDevices,
        ["get", var r] when ProcessNames.Contains(r) => HelpTopic.GetProcesses,
        ["ps"] => HelpTopic.GetProcesses,
        ["kill"] => HelpTopic.Kill,
        ["info"] => HelpTopic.Info,
        ["ping"] => HelpTopic.Ping,
        ["version"] => HelpTopic.Version,
        ["help"] => HelpTopic.Help,
        _ => null,
    };

    private static string ValueHint(OptionId id) => id switch
    {
        OptionId.Output => ": table, wide or json",
        OptionId.Socket => ": the socket's path",
        OptionId.Timeout => ": a duration, e.g. 5s",
        OptionId.Signal => ": TERM, KILL or INT",
        _ => "",
    };

    public static KillSignal? ParseSignal(string text)
    {
        var s = text.StartsWith("SIG", StringComparison.OrdinalIgnoreCase) ? text[3..] : text;
        return s.ToUpperInvariant() switch
        {
            "TERM" or "15" => KillSignal.Term,
            "KILL" or "9" => KillSignal.Kill,
            "INT" or "2" => KillSignal.Int,
            _ => null,
        };
    }

    private static bool TryParsePid(string text, out int pid) =>
        int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out pid) && pid >= 1;

    /// <summary>Why a socket path cannot be used, or null: a Unix socket path holds at most 107 bytes.</summary>
    public static string? SocketPathProblem(string path)
    {
        if (path.Length == 0)
            return "the socket path is empty";
        if (path.Contains('\0'))
            return "the socket path contains a NUL character";
        var bytes = Encoding.UTF8.GetByteCount(path);
        return bytes > Rpc.Grpc.GrpcServer.MaxUnixSocketPathBytes
            ? $"the socket path is {bytes} bytes long, and a Unix socket path may have at most {Rpc.Grpc.GrpcServer.MaxUnixSocketPathBytes}"
            : null;
    }

    /// <summary>An argument as an error message repeats it: control characters as '?', cut at 40 characters.</summary>
    public static string Shown(string text) => Text.Printable(text, MaxShown);
}

/// <summary>The parse's outcome: a command, or a usage error and the help topic whose usage goes with it.</summary>
public sealed record MgctlParse(MgctlCommand? Command, string? Error, HelpTopic Topic);
