using Grpc.Core;

namespace MetaGpu.Rpc.Grpc;

/// <summary>
/// A gRPC client channel to one Unix socket: one HTTP/2 connection, re-established after the peer went away.
/// Generated clients take it (or <see cref="CreateCallInvoker"/>) unchanged.
/// </summary>
public sealed partial class UnixChannel : ChannelBase, IDisposable
{
    public UnixChannel(string socketPath, UnixChannelOptions? options = null) : base("unix:" + socketPath) => throw new NotImplementedException();

    public override CallInvoker CreateCallInvoker() => throw new NotImplementedException();

    public void Dispose() => throw new NotImplementedException();
}
