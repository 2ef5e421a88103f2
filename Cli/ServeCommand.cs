using ConsoleAppFramework;
using MetaGpu.Logging;
using MetaGpu.Proto.Health.V1;
using MetaGpu.Rpc.Grpc;
using Microsoft.Extensions.Logging;

namespace MetaGpu.Cli;

/// <summary><c>metagpu serve</c>: grpc.health.v1 on a Unix socket, the transport on its own (a self-test).</summary>
public sealed class ServeCommand
{
    public static readonly CommandInfo Info = new("serve", HasLogFormat: true, Notes: $"""
        Environment: METAGPU_LOG_FORMAT (the flag wins).
        {StopSignals.Help}

        {ExitCodes.Help(
            (ExitCodes.Ok, "stopped by a signal"),
            (ExitCodes.Failure, "cannot listen on the socket"),
            (ExitCodes.Usage, "unknown option, stray argument, missing --socket, invalid value"))}
        """);

    /// <summary>serve the gRPC health service on a Unix socket (transport self-test)</summary>
    /// <param name="socket">the Unix socket to listen on [required]</param>
    /// <param name="logFormat">text|systemd|json, on standard error [env METAGPU_LOG_FORMAT; default: text]</param>
    [Command("serve")]
    public int Run([HideDefaultValue] string? socket = null, [HideDefaultValue] string? logFormat = null) => CommandErrors.Guard(Info.Name, () =>
    {
        if (socket is null)
            throw new UsageException("--socket PATH is required");
        var format = LogSettings.Format(logFormat);
        using var logging = ConsoleLogs.Create(format);
        var log = logging.CreateLogger("metagpu");
        using var signals = new StopSignals();

        var server = new HealthService().AddTo(new GrpcServer(new GrpcServerOptions { Logger = log }));
        try
        {
            server.ListenUnix(socket);
        }
        catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException or UnauthorizedAccessException)
        {
            log.LogError("cannot listen on {Socket}: {Error}", socket, e.Message);
            return ExitCodes.Failure;
        }
        log.LogInformation("serving grpc.health.v1 on unix:{Socket}", socket);
        signals.Token.WaitHandle.WaitOne();
        log.LogInformation("shutting down");
        server.ShutdownAsync(TimeSpan.FromSeconds(5)).GetAwaiter().GetResult();
        return ExitCodes.Ok;
    });
}
