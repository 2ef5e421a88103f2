using Grpc.Core;

namespace MetaGpu.Rpc.Grpc;

/// <summary>
/// A gRPC server over HTTP/2 on Unix domain sockets, hosting Grpc.Core.Api service definitions.
/// </summary>
public sealed partial class GrpcServer : IAsyncDisposable
{
    public GrpcServer(GrpcServerOptions? options = null) => throw new NotImplementedException();

    /// <summary>Adds every method of a service definition (e.g. <c>Echo.BindService(impl)</c>).</summary>
    public GrpcServer AddService(ServerServiceDefinition definition) => throw new NotImplementedException();

    /// <summary>Adds methods through a binder callback (e.g. <c>b => Echo.BindService(b, impl)</c>).</summary>
    public GrpcServer AddService(Action<ServiceBinderBase> bind) => throw new NotImplementedException();

    /// <summary>Binds a Unix socket at <paramref name="socketPath"/> (a stale socket file is replaced) and starts accepting.</summary>
    public void ListenUnix(string socketPath) => throw new NotImplementedException();

    /// <summary>Graceful shutdown: GOAWAY to every connection, in-flight calls may finish within <paramref name="grace"/>, then everything closes.</summary>
    public Task ShutdownAsync(TimeSpan grace) => throw new NotImplementedException();

    public ValueTask DisposeAsync() => throw new NotImplementedException();
}
