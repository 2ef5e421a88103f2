using System.Reflection;

namespace MetaGpu;

/// <summary>Entry point: parses the command line and dispatches. Knows nothing of how any command works.</summary>
public static class Program
{
    public const string Usage = """
        usage: metagpu <command> [options]

        commands:
          start     run the device plugin on this node
          demo      run the plugin against simulated GPUs and a stand-in kubelet
          gpus      list the GPUs MetaGPU sees
          ctl       the in-container CLI (also when invoked as mgctl)
          version   print the version
        """;

    public static int Main(string[] args)
    {
        var invokedAs = Path.GetFileNameWithoutExtension(Environment.GetCommandLineArgs()[0]);
        if (string.Equals(invokedAs, "mgctl", StringComparison.Ordinal))
            return NotYet("ctl");

        if (args.Length == 0 || args[0] is "-h" or "--help" or "help")
        {
            Console.Out.WriteLine(Usage);
            return args.Length == 0 ? 2 : 0;
        }

        return args[0] switch
        {
            "version" or "--version" => PrintVersion(),
            "start" or "demo" or "gpus" or "ctl" => NotYet(args[0]),
            _ => Unknown(args[0]),
        };
    }

    public static string Version =>
        typeof(Program).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0]
        ?? "0.0.0";

    static int PrintVersion()
    {
        Console.Out.WriteLine($"metagpu {Version}");
        return 0;
    }

    static int NotYet(string command)
    {
        Console.Error.WriteLine($"metagpu: '{command}' is not built yet in this version");
        return 3;
    }

    static int Unknown(string command)
    {
        Console.Error.WriteLine($"metagpu: unknown command '{command}'\n\n{Usage}");
        return 2;
    }
}
