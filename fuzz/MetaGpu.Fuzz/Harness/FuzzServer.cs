using System.Net.Sockets;
using MetaGpu.DevicePlugin;
using MetaGpu.Rpc.Grpc;

namespace MetaGpu.Fuzz;

/// <summary>
/// The daemon's gRPC server as the kubelet meets it: our <see cref="GrpcServer"/> on a Unix socket, serving the
/// DevicePlugin service (over <see cref="SimulatedNode"/>) and grpc.health.v1, with the product's default limits.
/// Each fuzz input gets a fresh connection, so nothing carries over from one input to the next but the server.
/// </summary>
internal sealed class FuzzServer
{
    private static FuzzServer? _shared;

    private readonly UnixDomainSocketEndPoint _endpoint;

    private FuzzServer()
    {
        var path = Path.Combine(ScratchDirectory.Path, "plugin.sock");
        Plugin = new MetaGpuDevicePlugin(SimulatedNode.Resource, SimulatedNode.Store(0), FuzzAllocations.Fresh(), Log, CancellationToken.None);
        Server = new GrpcServer(new GrpcServerOptions { Logger = Log })
            .AddService(Proto.DevicePlugin.V1Beta1.DevicePlugin.BindService(Plugin))
            .AddService(Proto.Health.V1.Health.BindService(new HealthService()));
        Server.ListenUnix(path);
        SocketPath = path;
        _endpoint = new UnixDomainSocketEndPoint(path);
    }

    public static FuzzServer Shared => _shared ??= new FuzzServer();

    public FindingLogger Log { get; } = new();
    public GrpcServer Server { get; }
    public MetaGpuDevicePlugin Plugin { get; }
    public string SocketPath { get; }

    /// <summary>A connected client socket; reads give up after 10 s (libFuzzer's -timeout fires long before).</summary>
    public Socket Connect()
    {
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified) { ReceiveTimeout = 10_000, SendTimeout = 10_000 };
        try
        {
            socket.Connect(_endpoint);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
        return socket;
    }

    /// <summary>Sends what it can of <paramref name="bytes"/>; a server that already closed the connection is an answer too.</summary>
    public static void SendAll(Socket socket, ReadOnlySpan<byte> bytes)
    {
        try
        {
            while (!bytes.IsEmpty)
                bytes = bytes[socket.Send(bytes)..];
        }
        catch (SocketException e) when (e.SocketErrorCode is SocketError.ConnectionReset or SocketError.Shutdown or SocketError.ConnectionAborted)
        {
        }
    }
}
