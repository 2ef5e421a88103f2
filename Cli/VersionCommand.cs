using ConsoleAppFramework;

namespace MetaGpu.Cli;

/// <summary><c>metagpu version</c> (also <c>metagpu --version</c>).</summary>
public sealed class VersionCommand
{
    public static readonly CommandInfo Info = new("version", ExitCodes.Help((ExitCodes.Ok, "printed")));

    /// <summary>print the version</summary>
    /// <param name="extra">nothing: a command without options still refuses stray arguments</param>
    [Command("version")]
    public int Run([Argument, Hidden] params string[] extra) => CommandErrors.Guard(Info.Name, () =>
    {
        if (extra.Length > 0)
            throw new UsageException($"Argument '{extra[0]}' is not recognized.");
        Console.Out.WriteLine($"metagpu {Program.Version}");
        return ExitCodes.Ok;
    });
}
