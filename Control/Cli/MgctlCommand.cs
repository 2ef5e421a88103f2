namespace MetaGpu.Control.Cli;

/// <summary>What mgctl was asked to do, parsed and checked: nothing in it needs checking again.</summary>
public sealed record MgctlCommand
{
    public required MgctlVerb Verb { get; init; }

    public OutputFormat Output { get; init; } = OutputFormat.Table;

    /// <summary><c>--socket</c>, else null (then <c>METAGPU_CTL_SOCKET</c>, else <see cref="MgctlEnvironment.DefaultSocket"/>).</summary>
    public string? Socket { get; init; }

    /// <summary>How long each unary call (and each connection attempt) may take.</summary>
    public TimeSpan Timeout { get; init; } = DefaultTimeout;

    /// <summary><c>get processes -w</c>.</summary>
    public bool Watch { get; init; }

    /// <summary><c>kill PID</c>: as the caller sees it, at least 1.</summary>
    public int Pid { get; init; }

    public KillSignal Signal { get; init; } = KillSignal.Term;

    /// <summary><c>help</c> and <c>--help</c>: whose help.</summary>
    public HelpTopic Topic { get; init; } = HelpTopic.Overview;

    public const string DefaultSocket = "/run/metagpu/control.sock";

    /// <summary>The socket in the daemon's default state directory (<c>/var/lib/metagpu/run/control.sock</c>).</summary>
    public const string NodeSocket = "/var/lib/metagpu/run/control.sock";

    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(5);
}

public enum MgctlVerb
{
    Help,
    GetDevices,
    GetProcesses,
    Kill,
    Info,
    Ping,
    Version,
}

public enum OutputFormat
{
    Table,
    Wide,
    Json,
}

/// <summary>The help texts there are: the overview and one per command (<c>get</c> covers both resources).</summary>
public enum HelpTopic
{
    Overview,
    Get,
    GetDevices,
    GetProcesses,
    Kill,
    Info,
    Ping,
    Version,
    Help,
}

/// <summary>The signals <c>kill</c> may send: the ones that ask a process to stop, and the one that makes it.</summary>
public enum KillSignal
{
    Term = 15,
    Kill = 9,
    Int = 2,
}
