using Grpc.Core;
using MetaGpu.Control.V1;
using MetaGpu.Rpc.Grpc;
using ControlApi = MetaGpu.Control.V1.Control;

namespace MetaGpu.Control.Cli;

/// <summary>
/// The control API as mgctl calls it: one channel to the socket, every unary call held to the timeout and to Ctrl-C.
/// A failed call comes out as <see cref="DaemonCallException"/>, already put in words and given its exit code.
/// </summary>
internal sealed class DaemonClient : IDisposable
{
    private readonly UnixChannel _channel;
    private readonly ControlApi.ControlClient _client;
    private readonly TimeSpan _timeout;
    private readonly CancellationToken _interrupt;

    public DaemonClient(string socketPath, TimeSpan timeout, CancellationToken interrupt)
    {
        SocketPath = socketPath;
        _timeout = timeout;
        _interrupt = interrupt;
        _channel = new UnixChannel(socketPath, new UnixChannelOptions { ConnectTimeout = timeout });
        _client = new ControlApi.ControlClient(_channel);
    }

    public string SocketPath { get; }

    private CallOptions Unary() => new(deadline: DateTime.UtcNow + _timeout, cancellationToken: _interrupt);

    public Task<InfoResponse> InfoAsync() => Call(_client.InfoAsync(new InfoRequest(), Unary()));

    public Task<ListDevicesResponse> ListDevicesAsync() => Call(_client.ListDevicesAsync(new ListDevicesRequest(), Unary()));

    public Task<ListContainersResponse> ListContainersAsync() => Call(_client.ListContainersAsync(new ListContainersRequest(), Unary()));

    public Task<KillProcessResponse> KillProcessAsync(int pid, KillSignal signal) =>
        Call(_client.KillProcessAsync(new KillProcessRequest { Pid = pid, Signal = (int)signal }, Unary()));

    public Task<PingResponse> PingAsync() => Call(_client.PingAsync(new PingRequest(), Unary()));

    /// <summary>A watch has no deadline (connecting still has the timeout); Ctrl-C ends it.</summary>
    public AsyncServerStreamingCall<ListContainersResponse> WatchContainers() =>
        _client.WatchContainers(new ListContainersRequest(), new CallOptions(cancellationToken: _interrupt));

    private async Task<T> Call<T>(AsyncUnaryCall<T> call)
    {
        using (call)
        {
            try
            {
                return await call.ResponseAsync.ConfigureAwait(false);
            }
            catch (RpcException e)
            {
                throw Describe(e);
            }
        }
    }

    /// <summary>The failure in words, with what to do about it.</summary>
    public DaemonCallException Describe(RpcException e) =>
        DaemonFailure.Describe(e.StatusCode, e.Status.Detail, SocketPath, _timeout, _interrupt.IsCancellationRequested);

    public void Dispose() => _channel.Dispose();
}

/// <summary>A call that failed: the message a person reads (without the program's name) and mgctl's exit code.</summary>
public sealed class DaemonCallException(int exitCode, string message, StatusCode status) : Exception(message)
{
    public int ExitCode { get; } = exitCode;

    public StatusCode Status { get; } = status;
}
