namespace MetaGpu.Cli;

/// <summary>
/// What the dispatcher needs to know of a command besides its options (which the command's <c>[Command]</c> method
/// declares): its name, the help text after the options (environment, signals, exit codes), and whether it takes
/// <c>--log-format</c>, so that its errors come out in that format too.
/// </summary>
public sealed record CommandInfo(string Name, string Notes, bool HasLogFormat = false);
