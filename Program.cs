using System.Reflection;
using System.Runtime.InteropServices;
using Grpc.Core;
using MetaGpu.DevicePlugin;
using MetaGpu.DevicePlugin.Config;
using MetaGpu.Nvml;
using MetaGpu.Proto.Health.V1;
using MetaGpu.Rpc.Grpc;
using Microsoft.Extensions.Logging;
using MetaGpu.Logging;

namespace MetaGpu;

/// <summary>Entry point: parses the command line and dispatches. Knows nothing of how any of it works.</summary>
public static class Program
{
    public const string Usage = """
        usage: metagpu <command> [options]

        commands:
          start     run the device plugin on this node
                      [--config FILE] [--kubelet-dir DIR] [--simulate N|MODELS] [--nvml-library PATH]
                      [--policy packed|spread] [--spanning allow|reject]
                      [--device-list-strategy envvar|cdi-cri|cdi-annotations]
                      [--resource-name NAME] [--meta-gpus N] [--ignore-xids 48,..] [--unignore-xids 13,..]
                      [--log-format text|json]
          demo      the device plugin on two simulated GPUs with a stand-in kubelet: pods admitted,
                    a GPU going unhealthy and recovering, in a few seconds   [--verbose]
          gpus      list the GPUs MetaGPU sees, with their processes
                      [-o table|json] [--simulate N|MODELS] [--nvml-library PATH]
          ctl       the in-container CLI, also when invoked as mgctl         (not built yet)
          serve     serve the gRPC health service on a Unix socket (transport self-test)
                      --socket PATH  [--log-format text|json]
          probe     ask MetaGPU sockets whether they are serving; exit 0 if so
                      --socket PATH | --kubelet-dir DIR   [--timeout 2s] [--service NAME]
          version   print the version
        """;

    public static int Main(string[] args)
    {
        var invokedAs = Path.GetFileNameWithoutExtension(Environment.GetCommandLineArgs()[0]);
        if (string.Equals(invokedAs, "mgctl", StringComparison.Ordinal))
            return NotYet("ctl");

        if (args.Length == 0 || args[0] is "-h" or "--help" or "help")
        {
            (args.Length == 0 ? Console.Error : Console.Out).WriteLine(Usage);
            return args.Length == 0 ? 2 : 0;
        }

        try
        {
            return args[0] switch
            {
                "version" or "--version" => PrintVersion(),
                "serve" => Serve(new CommandLine(args.Skip(1))),
                "probe" => Probe(new CommandLine(args.Skip(1))),
                "gpus" => Gpus(new CommandLine(args.Skip(1))),
                "start" => Start(new CommandLine(args.Skip(1))),
                "demo" => Demo(new CommandLine(args.Skip(1), "verbose")),
                "ctl" => NotYet(args[0]),
                _ => throw new UsageException($"unknown command '{args[0]}'"),
            };
        }
        catch (UsageException e)
        {
            Console.Error.WriteLine($"metagpu: {e.Message}\n\n{Usage}");
            return 2;
        }
        catch (Exception e)
        {
            // A bug of ours: say so in one line (the details follow) rather than abort.
            Console.Error.WriteLine($"metagpu: unexpected error: {e.GetType().Name}: {e.Message}\n{e}");
            return 1;
        }
    }

    public static string Version =>
        typeof(Program).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0]
        ?? "0.0.0";

    private static int PrintVersion()
    {
        Console.Out.WriteLine($"metagpu {Version}");
        return 0;
    }

    private static int NotYet(string command)
    {
        Console.Error.WriteLine($"metagpu: '{command}' is not built yet in this version");
        return 3;
    }

    private static ILoggerFactory CreateLogging(CommandLine cl)
    {
        var format = cl.Get("log-format") ?? Environment.GetEnvironmentVariable("METAGPU_LOG_FORMAT") ?? "text";
        if (format is not ("text" or "json"))
            throw new UsageException($"option --log-format: '{format}' is not one of text, json");
        return new ConsoleLog(format == "json" ? LogFormat.Json : LogFormat.Text);
    }

    /// <summary>Exit code when no NVML library can be loaded: distinct, so scripts and probes can tell.</summary>
    public const int ExitNoNvml = 4;

    /// <summary>Opens the GPU backend the options ask for; a missing NVML is a clear message and exit code 4.</summary>
    private static IGpuBackend? OpenBackend(CommandLine cl, out int exitCode)
    {
        var simulate = cl.Get("simulate") ?? Environment.GetEnvironmentVariable("METAGPU_SIMULATE");
        var library = cl.Get("nvml-library");
        var sysfs = cl.Get("sysfs-root");
        cl.ThrowIfUnknown();
        exitCode = 0;
        try
        {
            return GpuBackends.Open(simulate, library, sysfs);
        }
        catch (FormatException e)
        {
            throw new UsageException(e.Message);
        }
        catch (NvmlLibraryNotFoundException e)
        {
            Console.Error.WriteLine($"metagpu: {e.Message}");
            exitCode = ExitNoNvml;
        }
        catch (GpuBackendException e)
        {
            Console.Error.WriteLine($"metagpu: cannot start NVML: {e.Message}");
            exitCode = 1;
        }
        return null;
    }

    /// <summary>The inventory as a table or JSON, so an operator can check on a node what MetaGPU sees.</summary>
    private static int Gpus(CommandLine cl)
    {
        var output = cl.Get("output") ?? "table";
        if (output is not ("table" or "json"))
            throw new UsageException($"option --output: '{output}' is not one of table, json");
        using var backend = OpenBackend(cl, out var exitCode);
        if (backend is null)
            return exitCode;
        try
        {
            var report = GpuReport.Collect(backend);
            Console.Out.Write(output == "json" ? report.ToJson() + "\n" : report.ToTable());
            return 0;
        }
        catch (GpuBackendException e)
        {
            Console.Error.WriteLine($"metagpu: {e.Message}");
            return 1;
        }
    }

    /// <summary>The device plugin daemon, until SIGTERM/SIGINT: then streams close, sockets go, exit 0.</summary>
    private static int Start(CommandLine cl)
    {
        int? metaGpus = null;
        if (cl.Get("meta-gpus") is { } mg)
        {
            if (!int.TryParse(mg, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var n))
                throw new UsageException($"option --meta-gpus: '{mg}' is not a whole number");
            metaGpus = n;
        }
        var options = new PluginDaemonOptions
        {
            ConfigPath = cl.Get("config") ?? NullIfEmpty(Environment.GetEnvironmentVariable("METAGPU_CONFIG")),
            PluginDirectory = cl.Get("kubelet-dir") ?? NullIfEmpty(Environment.GetEnvironmentVariable("METAGPU_KUBELET_DIR")) ?? PluginDaemonOptions.DefaultPluginDirectory,
            Flags = new ConfigOverrides(cl.Get("policy"), cl.Get("spanning"), cl.Get("device-list-strategy"), cl.Get("resource-name"), metaGpus,
                cl.Get("ignore-xids"), cl.Get("unignore-xids")),
        };
        using var logging = CreateLogging(cl);
        using var backend = OpenBackend(cl, out var exitCode);
        if (backend is null)
            return exitCode;

        using var stop = new CancellationTokenSource();
        using var term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; stop.Cancel(); });
        using var intr = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => { c.Cancel = true; stop.Cancel(); });
        return PluginDaemon.RunAsync(backend, options, logging, stop.Token).GetAwaiter().GetResult();
    }

    private static int Demo(CommandLine cl)
    {
        var verbose = cl.Has("verbose");
        var format = cl.Get("log-format") == "json" ? LogFormat.Json : LogFormat.Text;
        cl.ThrowIfUnknown();
        return MetaGpu.DevicePlugin.Demo.DemoRun.RunAsync(Console.Out, verbose ? LogLevel.Information : LogLevel.Error, format).GetAwaiter().GetResult();
    }

    private static string? NullIfEmpty(string? s) => string.IsNullOrEmpty(s) ? null : s;

    /// <summary>Serves grpc.health.v1 on a Unix socket until SIGTERM or SIGINT, then shuts down gracefully.</summary>
    private static int Serve(CommandLine cl)
    {
        var socket = cl.Require("socket");
        using var logging = CreateLogging(cl);
        cl.ThrowIfUnknown();
        var log = logging.CreateLogger("metagpu");
        var stop = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; stop.TrySetResult(); });
        using var intr = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => { c.Cancel = true; stop.TrySetResult(); });

        var server = new GrpcServer(new GrpcServerOptions { Logger = log }).AddService(Health.BindService(new HealthService()));
        try
        {
            server.ListenUnix(socket);
        }
        catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException or UnauthorizedAccessException)
        {
            log.LogError("cannot listen on {Socket}: {Error}", socket, e.Message);
            return 1;
        }
        log.LogInformation("serving grpc.health.v1 on unix:{Socket}", socket);
        stop.Task.Wait();
        log.LogInformation("shutting down");
        server.ShutdownAsync(TimeSpan.FromSeconds(5)).GetAwaiter().GetResult();
        return 0;
    }

    /// <summary>
    /// Health.Check over our own client: exit 0 when SERVING, 1 with the reason otherwise. With --kubelet-dir it checks
    /// every MetaGPU socket in the plugin directory (the liveness probe: it needs no resource name).
    /// </summary>
    private static int Probe(CommandLine cl)
    {
        var socket = cl.Get("socket");
        var directory = cl.Get("kubelet-dir");
        var timeout = cl.GetDuration("timeout", TimeSpan.FromSeconds(2));
        var service = cl.Get("service") ?? "";
        cl.ThrowIfUnknown();
        if ((socket is null) == (directory is null))
            throw new UsageException("probe needs exactly one of --socket PATH or --kubelet-dir DIR");
        string[] sockets;
        if (socket is not null)
        {
            sockets = [socket];
        }
        else
        {
            sockets = Directory.Exists(directory) ? Directory.GetFiles(directory!, "metagpu-*.sock") : [];
            if (sockets.Length == 0)
            {
                Console.Error.WriteLine($"metagpu probe: no MetaGPU socket in {directory}");
                return 1;
            }
        }
        var healthy = true;
        foreach (var path in sockets)
        {
            using var channel = new UnixChannel(path, new UnixChannelOptions { ConnectTimeout = timeout });
            try
            {
                var reply = new Health.HealthClient(channel).Check(new HealthCheckRequest { Service = service }, deadline: DateTime.UtcNow + timeout);
                Console.Out.WriteLine($"{path}: {reply.Status.ToString().ToUpperInvariant()}");
                healthy &= reply.Status == HealthCheckResponse.Types.ServingStatus.Serving;
            }
            catch (RpcException e)
            {
                Console.Error.WriteLine($"metagpu probe: {path}: {e.StatusCode}: {e.Status.Detail}");
                healthy = false;
            }
        }
        return healthy ? 0 : 1;
    }
}
