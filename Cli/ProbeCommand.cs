using ConsoleAppFramework;
using Grpc.Core;
using MetaGpu.DevicePlugin.Config;
using MetaGpu.Proto.Health.V1;
using MetaGpu.Rpc.Grpc;

namespace MetaGpu.Cli;

/// <summary>
/// <c>metagpu probe</c>: Health.Check over our own client. With <c>--kubelet-dir</c> it checks every MetaGPU socket in
/// the plugin directory (the liveness probe: it needs no resource name).
/// </summary>
public sealed class ProbeCommand
{
    public static readonly CommandInfo Info = new("probe", $"""
        Durations are written as in the config file: 500ms, 2s, 1m30s.

        {ExitCodes.Help(
            (ExitCodes.Ok, "every socket checked is SERVING"),
            (ExitCodes.Failure, "a socket is not serving, does not answer in time, or there is none"),
            (ExitCodes.Usage, "unknown option, stray argument, not exactly one of --socket and --kubelet-dir, invalid --timeout"))}
        """);

    /// <summary>ask MetaGPU sockets whether they are serving; exit 0 if so</summary>
    /// <param name="socket">one socket to check</param>
    /// <param name="kubeletDir">check every metagpu-*.sock in this device-plugin directory</param>
    /// <param name="timeout">how long each check may take, e.g. 500ms, 2s [default: 2s]</param>
    /// <param name="service">the health service name to ask about [default: "", the server as a whole]</param>
    [Command("probe")]
    public int Run(
        [HideDefaultValue] string? socket = null,
        [HideDefaultValue] string? kubeletDir = null,
        [HideDefaultValue] string timeout = "2s",
        [HideDefaultValue] string service = "") => CommandErrors.Guard(Info.Name, () =>
    {
        if (!GoDuration.TryParse(timeout, out var limit))
            throw new UsageException($"--timeout: '{timeout}' is not a duration ({GoDuration.Examples})");
        if ((socket is null) == (kubeletDir is null))
            throw new UsageException("give exactly one of --socket PATH or --kubelet-dir DIR");
        string[] sockets;
        if (socket is not null)
        {
            sockets = [socket];
        }
        else
        {
            sockets = Directory.Exists(kubeletDir) ? Directory.GetFiles(kubeletDir!, "metagpu-*.sock") : [];
            if (sockets.Length == 0)
                return CommandErrors.Report(Info.Name, $"no MetaGPU socket in {kubeletDir}", ExitCodes.Failure);
        }
        var healthy = true;
        foreach (var path in sockets)
        {
            using var channel = new UnixChannel(path, new UnixChannelOptions { ConnectTimeout = limit });
            try
            {
                var reply = channel.UnaryAsync(HealthMethods.Check, new HealthCheckRequest { Service = service }, new CallOptions(deadline: DateTime.UtcNow + limit))
                    .GetAwaiter().GetResult();
                Console.Out.WriteLine($"{path}: {reply.Status.ToString().ToUpperInvariant()}");
                healthy &= reply.Status == HealthCheckResponse.Types.ServingStatus.Serving;
            }
            catch (RpcException e)
            {
                CommandErrors.Report(Info.Name, $"{path}: {e.StatusCode}: {e.Status.Detail}", ExitCodes.Failure);
                healthy = false;
            }
        }
        return healthy ? ExitCodes.Ok : ExitCodes.Failure;
    });
}
