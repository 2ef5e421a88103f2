using System.Diagnostics;
using System.Text;
using MetaGpu.Control.V1;

namespace MetaGpu.Control.Cli;

/// <summary>
/// mgctl: the binary invoked as <c>mgctl</c>, or <c>metagpu ctl</c>. <see cref="RunProcess"/> is the process's entry;
/// <see cref="RunAsync"/> runs one command line against given writers and surroundings, in-process (the tests do).
/// Nothing here starts logging, NVML or a configuration: a call from a container costs little more than process start.
/// </summary>
public static class MgctlApp
{
    /// <summary>The product version, e.g. 0.1.0 (the build's version without the commit; a constant, BuildInfo).</summary>
    public static string ClientVersion => BuildInfo.Version;

    /// <summary>
    /// The process entry: Ctrl-C and SIGTERM cancel; standard output and error are written with write(2) (see
    /// <see cref="DescriptorStream"/>), standard output flushed on the way out.
    /// </summary>
    public static int RunProcess(string[] args, string program)
    {
        using var interrupt = new InterruptSignals();
        var env = MgctlEnvironment.FromProcess(interrupt.Token);
        using var stdout = OpenDescriptor(1);
        using var stderr = OpenDescriptor(2);
        stderr.AutoFlush = true;
        try
        {
            return RunAsync(args, stdout, stderr, env, program).GetAwaiter().GetResult();
        }
        finally
        {
            try
            {
                stdout.Flush();
            }
            catch (IOException)
            {
                // The reader went away (e.g. '| head'): what it did not read is nobody's loss.
            }
        }
    }

    private static StreamWriter OpenDescriptor(int fd) => new(new DescriptorStream(fd), new UTF8Encoding(false), 16 * 1024);

    public static int Run(string[] args, TextWriter stdout, TextWriter stderr, MgctlEnvironment env, string program = "mgctl") =>
        RunAsync(args, stdout, stderr, env, program).GetAwaiter().GetResult();

    public static async Task<int> RunAsync(IReadOnlyList<string> args, TextWriter stdout, TextWriter stderr, MgctlEnvironment env, string program = "mgctl")
    {
        var parse = MgctlCommandLine.Parse(args);
        if (parse.Command is not { } command)
            return UsageError(stderr, program, parse.Error ?? "invalid command line", parse.Topic);
        if (command.Verb == MgctlVerb.Help)
        {
            stdout.Write(MgctlHelp.Full(command.Topic, program));
            return MgctlExitCodes.Ok;
        }

        var socket = command.Socket;
        if (socket is null && !string.IsNullOrEmpty(env.SocketVariable))
        {
            if (MgctlCommandLine.SocketPathProblem(env.SocketVariable) is { } problem)
                return UsageError(stderr, program, $"{MgctlEnvironment.SocketVariableName}: {problem}", parse.Topic);
            socket = env.SocketVariable;
        }
        socket ??= env.DefaultSocket;

        var styler = new Styler(env.UseColour);
        using var daemon = new DaemonClient(socket, command.Timeout, env.Interrupt);
        try
        {
            switch (command.Verb)
            {
                case MgctlVerb.GetDevices:
                {
                    var info = daemon.InfoAsync();
                    var devices = daemon.ListDevicesAsync();
                    var view = new DevicesView(await info.ConfigureAwait(false), await devices.ConfigureAwait(false));
                    stdout.Write(command.Output == OutputFormat.Json
                        ? MgctlJson.Devices(view, indented: true) + "\n"
                        : DevicesTable.Render(view, command.Output == OutputFormat.Wide, env, ClientVersionOf(env), styler));
                    return MgctlExitCodes.Ok;
                }
                case MgctlVerb.GetProcesses when command.Watch:
                    return await new ProcessWatch(daemon, command, stdout, stderr, env, program, ClientVersionOf(env), styler).RunAsync().ConfigureAwait(false);
                case MgctlVerb.GetProcesses:
                {
                    var view = await Processes(daemon).ConfigureAwait(false);
                    stdout.Write(command.Output == OutputFormat.Json
                        ? MgctlJson.Processes(view, indented: true) + "\n"
                        : ProcessesTable.Render(view, command.Output == OutputFormat.Wide, env, ClientVersionOf(env), styler));
                    return MgctlExitCodes.Ok;
                }
                case MgctlVerb.Kill:
                {
                    var killed = await daemon.KillProcessAsync(command.Pid, command.Signal).ConfigureAwait(false);
                    stdout.Write(command.Output == OutputFormat.Json
                        ? MgctlJson.Kill(killed, indented: true) + "\n"
                        : $"Sent {MgctlJson.SignalName(killed.Signal)} to {Formats.Pid(killed.Pid)}{(killed.Command.Length > 0 ? $" ({Text.Printable(killed.Command, 200)})" : "")}\n");
                    return MgctlExitCodes.Ok;
                }
                case MgctlVerb.Info:
                {
                    var info = await daemon.InfoAsync().ConfigureAwait(false);
                    stdout.Write(command.Output == OutputFormat.Json
                        ? MgctlJson.Info(info, ClientVersionOf(env), indented: true) + "\n"
                        : InfoText.Render(info, ClientVersionOf(env), command.Output == OutputFormat.Wide, env.Time.GetUtcNow()));
                    return MgctlExitCodes.Ok;
                }
                case MgctlVerb.Ping:
                {
                    var started = Stopwatch.GetTimestamp();
                    var pong = await daemon.PingAsync().ConfigureAwait(false);
                    var ms = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
                    stdout.Write(command.Output == OutputFormat.Json
                        ? MgctlJson.Ping(pong, ms, indented: true) + "\n"
                        : $"pong from metagpu {Formats.OrDash(pong.Version, 40)} at {socket} in {ms:0.00} ms\n");
                    return MgctlExitCodes.Ok;
                }
                case MgctlVerb.Version:
                    return await Version(daemon, command, stdout, ClientVersionOf(env)).ConfigureAwait(false);
                default:
                    stdout.Write(MgctlHelp.Full(HelpTopic.Overview, program));
                    return MgctlExitCodes.Ok;
            }
        }
        catch (DaemonCallException e)
        {
            if (e.ExitCode != MgctlExitCodes.Interrupted)
                stderr.Write($"{program}: {e.Message}\n");
            return e.ExitCode;
        }
        catch (OperationCanceledException) when (env.Interrupt.IsCancellationRequested)
        {
            return MgctlExitCodes.Interrupted;
        }
    }

    private static string ClientVersionOf(MgctlEnvironment env) => env.ClientVersion ?? ClientVersion;

    /// <summary>The three answers a processes view needs, asked at once over the one connection.</summary>
    internal static async Task<ProcessesView> Processes(DaemonClient daemon)
    {
        var info = daemon.InfoAsync();
        var devices = daemon.ListDevicesAsync();
        var containers = daemon.ListContainersAsync();
        await Task.WhenAll(info, devices, containers).ConfigureAwait(false);
        return new ProcessesView(info.Result, devices.Result, containers.Result);
    }

    /// <summary><c>version</c>: always the client's; the daemon's when it answers (exit 0 either way).</summary>
    private static async Task<int> Version(DaemonClient daemon, MgctlCommand command, TextWriter stdout, string clientVersion)
    {
        string? daemonVersion = null;
        string? error = null;
        try
        {
            daemonVersion = (await daemon.PingAsync().ConfigureAwait(false)).Version;
        }
        catch (DaemonCallException e) when (e.ExitCode != MgctlExitCodes.Interrupted)
        {
            error = e.Message;
        }
        stdout.Write(command.Output == OutputFormat.Json
            ? MgctlJson.Version(clientVersion, daemonVersion, error, indented: true) + "\n"
            : $"mgctl {clientVersion}\ndaemon {(daemonVersion is null ? $"unknown: {error}" : Formats.OrDash(daemonVersion, 40))}\n");
        return MgctlExitCodes.Ok;
    }

    private static int UsageError(TextWriter stderr, string program, string message, HelpTopic topic)
    {
        stderr.Write($"{program}: {message}\n\n{MgctlHelp.Usage(topic, program).TrimEnd()}\n\nRun '{program} help{TopicWords(topic)}' for more.\n");
        return MgctlExitCodes.Usage;
    }

    private static string TopicWords(HelpTopic topic) => topic switch
    {
        HelpTopic.Get => " get",
        HelpTopic.GetDevices => " get devices",
        HelpTopic.GetProcesses => " get processes",
        HelpTopic.Kill => " kill",
        HelpTopic.Info => " info",
        HelpTopic.Ping => " ping",
        HelpTopic.Version => " version",
        HelpTopic.Help => " help",
        _ => "",
    };
}
