using Grpc.Core;
using MetaGpu.DevicePlugin.Allocations;
using MetaGpu.Proto.DevicePlugin.V1Beta1;
using MetaGpu.Rpc.Grpc;
using Microsoft.Extensions.Logging;

namespace MetaGpu.DevicePlugin;

/// <summary>
/// One resource's socket in the kubelet's plugin directory: the DevicePlugin service listening on it, and its
/// registration with the kubelet. Listening comes first: inside Register the kubelet dials back and asks for the
/// plugin's options before it answers.
/// </summary>
public sealed class PluginEndpoint : IAsyncDisposable
{
    public const string ApiVersion = "v1beta1";
    private const string PluginMethodPrefix = "/v1beta1.DevicePlugin/";
    private static readonly TimeSpan RegisterTimeout = TimeSpan.FromSeconds(15);

    private readonly NodeStateStore _state;
    private readonly ILogger? _log;
    private readonly CancellationTokenSource _stopping = new();
    private readonly GrpcServer _server;
    private int _streamLost;
    private int _stopped;

    public PluginEndpoint(string resourceName, string pluginDirectory, NodeStateStore state, AllocationFiles allocations, ILogger? log, TimeSpan? idleConnectionTimeout = null,
        PluginEvents? events = null, ContainerAdditions? additions = null)
    {
        ResourceName = resourceName;
        _state = state;
        _log = log;
        FileName = SocketNames.EndpointFileName(resourceName, pluginDirectory);
        SocketPath = Path.Combine(pluginDirectory, FileName);
        Service = new MetaGpuDevicePlugin(resourceName, state, allocations, log, _stopping.Token, additions);
        Service.StreamLost += _ => Interlocked.Exchange(ref _streamLost, 1);
        // grpc.health.v1 beside the plugin service: what the DaemonSet's liveness probe (metagpu probe) asks.
        // The kubelet's calls are answered on the socket's event thread where they can be (InlineCompletions).
        var serverOptions = new GrpcServerOptions { Logger = log, InlineSocketCompletions = true };
        if (events?.CallFinished is { } finished)
        {
            // The plugin's own calls only; the liveness probe's health checks are not the kubelet's business.
            serverOptions.CallFinished = (method, _, elapsed) =>
            {
                if (method.StartsWith(PluginMethodPrefix, StringComparison.Ordinal))
                    finished(resourceName, method, elapsed);
            };
        }
        if (idleConnectionTimeout is { } idle)
            serverOptions.IdleTimeout = idle;
        _server = new HealthService().AddTo(Service.AddTo(new GrpcServer(serverOptions)));
    }

    public string ResourceName { get; }
    public string FileName { get; }
    public string SocketPath { get; }
    public MetaGpuDevicePlugin Service { get; }

    /// <summary>
    /// True once the registration's ListAndWatch stream ended without us stopping it: the kubelet went away. Streams of
    /// other clients come and go without effect.
    /// </summary>
    public bool StreamLost => Volatile.Read(ref _streamLost) != 0;

    /// <summary>When the socket file was created, to notice the kubelet deleting it.</summary>
    public DateTime SocketCreated { get; private set; }

    public void Listen()
    {
        _server.ListenUnix(SocketPath);
        SocketCreated = File.GetLastWriteTimeUtc(SocketPath);
    }

    /// <summary>Registers with the kubelet. Failures are RpcExceptions saying why (UNAVAILABLE when no kubelet listens).</summary>
    public async Task RegisterAsync(string kubeletSocket, CancellationToken cancellationToken)
    {
        using var channel = new UnixChannel(kubeletSocket, new UnixChannelOptions { ConnectTimeout = TimeSpan.FromSeconds(2), Logger = _log });
        var registered = false;
        // Inside this call the kubelet dials back and asks for our options: that tells us which connection is its.
        Service.Registration.Begin();
        try
        {
            await channel.UnaryAsync(KubeletApi.Register, new RegisterRequest
            {
                Version = ApiVersion,
                Endpoint = FileName,
                ResourceName = ResourceName,
                Options = new DevicePluginOptions { GetPreferredAllocationAvailable = true, PreStartRequired = false },
            }, new CallOptions(deadline: DateTime.UtcNow + RegisterTimeout, cancellationToken: cancellationToken)).ConfigureAwait(false);
            registered = true;
        }
        finally
        {
            Service.Registration.End(registered);
        }
    }

    /// <summary>Ends the ListAndWatch stream (so the kubelet lets go of this endpoint), closes the socket and removes its file.</summary>
    public async Task StopAsync()
    {
        if (Interlocked.Exchange(ref _stopped, 1) != 0)
            return;
        _stopping.Cancel();
        await _server.ShutdownAsync(TimeSpan.FromSeconds(2)).ConfigureAwait(false);
        try
        {
            File.Delete(SocketPath);
        }
        catch (IOException)
        {
        }
    }

    public async ValueTask DisposeAsync() => await StopAsync().ConfigureAwait(false);
}
