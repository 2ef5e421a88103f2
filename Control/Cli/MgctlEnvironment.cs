namespace MetaGpu.Control.Cli;

/// <summary>
/// What mgctl reads from its surroundings, gathered in one place so that tests can run it in-process with any terminal,
/// environment and clock: <see cref="FromProcess"/> is the real one.
/// </summary>
public sealed record MgctlEnvironment
{
    /// <summary>Whether standard output is a terminal: tables redraw in place and may be coloured; otherwise a watch writes NDJSON.</summary>
    public bool IsTerminal { get; init; }

    /// <summary>The terminal's width in columns, when known; tables shorten commands to fit it.</summary>
    public int? TerminalWidth { get; init; }

    /// <summary><c>NO_COLOR</c>: any non-empty value turns colours off (https://no-color.org).</summary>
    public string? NoColor { get; init; }

    /// <summary><c>TERM</c>: <c>dumb</c> means no colours and no cursor movement.</summary>
    public string? Term { get; init; }

    /// <summary><c>METAGPU_CTL_SOCKET</c>: the socket when <c>--socket</c> is not given.</summary>
    public string? SocketVariable { get; init; }

    /// <summary>Where Allocate puts the socket in a container (<c>/run/metagpu/control.sock</c>).</summary>
    public string ContainerSocket { get; init; } = MgctlCommand.DefaultSocket;

    /// <summary>Where the daemon serves it on the node, in its default state directory; also its path in the MetaGPU pod.</summary>
    public string NodeSocket { get; init; } = MgctlCommand.NodeSocket;

    /// <summary>
    /// The socket when neither <c>--socket</c> nor <c>METAGPU_CTL_SOCKET</c> names one: the container's; but where
    /// there is no <c>/run/metagpu</c> at all and the node's state directory has a socket (root on the node,
    /// <c>kubectl exec</c> into the MetaGPU pod), that one.
    /// </summary>
    public string DefaultSocket =>
        File.Exists(ContainerSocket) || Directory.Exists(Path.GetDirectoryName(ContainerSocket)) || !File.Exists(NodeSocket) ? ContainerSocket : NodeSocket;

    /// <summary>Cancelled by Ctrl-C (SIGINT) or SIGTERM: a watch ends with exit 0, a one-shot call with 130.</summary>
    public CancellationToken Interrupt { get; init; }

    public TimeProvider Time { get; init; } = TimeProvider.System;

    /// <summary>The version mgctl reports as its own; null: the product's (<see cref="MgctlApp.ClientVersion"/>).</summary>
    public string? ClientVersion { get; init; }

    /// <summary>Whether tables may be coloured: a terminal, NO_COLOR unset or empty, TERM not <c>dumb</c>.</summary>
    public bool UseColour => IsTerminal && string.IsNullOrEmpty(NoColor) && !IsDumbTerminal;

    /// <summary>Whether a watch may move the cursor to redraw in place.</summary>
    public bool CanRedraw => IsTerminal && !IsDumbTerminal;

    private bool IsDumbTerminal => string.Equals(Term, "dumb", StringComparison.Ordinal);

    public const string SocketVariableName = "METAGPU_CTL_SOCKET";

    /// <summary>The process's own: isatty(1), TIOCGWINSZ, the three variables, and <paramref name="interrupt"/>.</summary>
    public static MgctlEnvironment FromProcess(CancellationToken interrupt)
    {
        var terminal = TerminalSize.IsTerminal(1);
        return new MgctlEnvironment
        {
            IsTerminal = terminal,
            TerminalWidth = terminal ? TerminalSize.Columns(1) : null,
            NoColor = Environment.GetEnvironmentVariable("NO_COLOR"),
            Term = Environment.GetEnvironmentVariable("TERM"),
            SocketVariable = Environment.GetEnvironmentVariable(SocketVariableName),
            Interrupt = interrupt,
        };
    }
}
