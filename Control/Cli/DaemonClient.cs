using Grpc.Core;
using MetaGpu.Control.V1;
using MetaGpu.Rpc.Grpc;

namespace MetaGpu.Control.Cli;

/// <summary>
/// The control API as mgctl calls it (<see cref="ControlMethods"/>): one channel to the socket, every unary call held
/// to the timeout and to Ctrl-C.
/// A failed call comes out as <see cref="DaemonCallException"/>, already put in words and given its exit code.
/// </summary>
internal sealed class DaemonClient : IDisposable
{
    private readonly UnixChannel _channel;
    private readonly UnixCallInvoker _calls;
    private readonly TimeSpan _timeout;
    private readonly CancellationToken _interrupt;

    public DaemonClient(string socketPath, TimeSpan timeout, CancellationToken interrupt)
    {
        SocketPath = socketPath;
        _timeout = timeout;
        _interrupt = interrupt;
        _channel = new UnixChannel(socketPath, new UnixChannelOptions { ConnectTimeout = timeout });
        _calls = new UnixCallInvoker(_channel);
    }

    public string SocketPath { get; }

    private CallOptions Unary() => new(deadline: DateTime.UtcNow + _timeout, cancellationToken: _interrupt);

    // The invoker's own (sealed) type, each call with its types named where it is made: a generic virtual call
    // through CallInvoker, or one from shared generic code, is resolved by the native-AOT runtime at run time with its
    // type loader, which perf showed as a quarter of mgctl's CPU time.

    public Task<InfoResponse> InfoAsync() => Call(_calls.AsyncUnaryCall(ControlMethods.Info, null, Unary(), new InfoRequest()));

    public Task<ListDevicesResponse> ListDevicesAsync() => Call(_calls.AsyncUnaryCall(ControlMethods.ListDevices, null, Unary(), new ListDevicesRequest()));

    public Task<ListContainersResponse> ListContainersAsync() =>
        Call(_calls.AsyncUnaryCall(ControlMethods.ListContainers, null, Unary(), new ListContainersRequest()));

    public Task<KillProcessResponse> KillProcessAsync(int pid, KillSignal signal) =>
        Call(_calls.AsyncUnaryCall(ControlMethods.KillProcess, null, Unary(), new KillProcessRequest { Pid = pid, Signal = (int)signal }));

    public Task<PingResponse> PingAsync() => Call(_calls.AsyncUnaryCall(ControlMethods.Ping, null, Unary(), new PingRequest()));

    /// <summary>A watch has no deadline (connecting still has the timeout); Ctrl-C ends it.</summary>
    public AsyncServerStreamingCall<ListContainersResponse> WatchContainers() =>
        _calls.AsyncServerStreamingCall(ControlMethods.WatchContainers, null, new CallOptions(cancellationToken: _interrupt), new ListContainersRequest());

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
