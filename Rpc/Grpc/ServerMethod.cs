using System.Diagnostics;
using Grpc.Core;
using MetaGpu.Rpc.Http2;
using Microsoft.Extensions.Logging;

namespace MetaGpu.Rpc.Grpc;

internal interface IServerMethod
{
    /// <summary>Whether the call may run on the connection's read loop (see <see cref="GrpcServer.AddUnary{TRequest,TResponse}"/>).</summary>
    bool Inline { get; }

    /// <summary>The largest request message an inline call takes on the read loop; a larger one goes to the pool.</summary>
    int InlineMaxRequestBytes { get; }

    Task HandleAsync(Http2Stream stream, GrpcServerOptions options, ConnectionPeer peer);
}

/// <summary>
/// Runs one bound method for one call: reads the request message(s), calls the handler, writes the response and status.
/// The call's flow is here, once, with the messages as objects; <see cref="ServerMethod{TRequest,TResponse}"/> adds
/// the typed handler calls, none of them async. Each generic async method would be a state machine, a task box and
/// awaiters of its own in the native binary for every method's message types (docs/size.md).
/// </summary>
internal abstract class ServerMethod(IMethod method, Func<DeserializationContext, object> deserializeRequest) : IServerMethod
{
    public bool Inline { get; init; }

    public int InlineMaxRequestBytes { get; init; } = int.MaxValue;

    /// <summary>Calls the unary handler; the task is a <c>Task&lt;TResponse&gt;</c>.</summary>
    protected abstract Task InvokeUnary(object request, ServerCall call);

    protected abstract Task InvokeServerStreaming(object request, ServerCall call);

    /// <summary>Calls the client-streaming handler; the task is a <c>Task&lt;TResponse&gt;</c>.</summary>
    protected abstract Task InvokeClientStreaming(ServerCall call);

    protected abstract Task InvokeDuplex(ServerCall call);

    /// <summary>Writes the response of a completed <see cref="InvokeUnary"/> or <see cref="InvokeClientStreaming"/> task.</summary>
    protected abstract ValueTask WriteResponse(ServerCall call, Task completed, CancellationToken token);

    public async Task HandleAsync(Http2Stream stream, GrpcServerOptions options, ConnectionPeer peer)
    {
        var started = Stopwatch.GetTimestamp();
        using var call = new ServerCall(stream, options, method.FullName, peer);
        Status status;
        try
        {
            var token = call.CancellationToken;
            switch (method.Type)
            {
                case MethodType.Unary:
                {
                    var request = await ReadSingleRequestAsync(call, token).ConfigureAwait(false);
                    var handled = InvokeUnary(request, call);
                    await handled.ConfigureAwait(false);
                    await WriteResponse(call, handled, token).ConfigureAwait(false);
                    break;
                }
                case MethodType.ServerStreaming:
                {
                    var request = await ReadSingleRequestAsync(call, token).ConfigureAwait(false);
                    await InvokeServerStreaming(request, call).ConfigureAwait(false);
                    break;
                }
                case MethodType.ClientStreaming:
                {
                    var handled = InvokeClientStreaming(call);
                    await handled.ConfigureAwait(false);
                    await WriteResponse(call, handled, token).ConfigureAwait(false);
                    break;
                }
                default:
                    await InvokeDuplex(call).ConfigureAwait(false);
                    break;
            }
            status = call.Status;
        }
        catch (RpcException e)
        {
            status = e.Status;
            if (e.Trailers.Count > 0)
            {
                foreach (var t in e.Trailers)
                    call.ResponseTrailers.Add(t);
            }
        }
        catch (Exception) when (call.DeadlineExceeded)
        {
            status = new Status(StatusCode.DeadlineExceeded, "Deadline Exceeded");
        }
        catch (Exception e) when (stream.Aborted.IsCancellationRequested || e is Http2StreamAbortedException)
        {
            status = new Status(StatusCode.Cancelled, "call cancelled by the client");
        }
        catch (Exception e)
        {
            options.Logger?.LogError(e, "gRPC handler {Method} failed", method.FullName);
            status = new Status(StatusCode.Unknown, "Exception was thrown by handler.");
        }
        try
        {
            await call.FinishAsync(status).ConfigureAwait(false);
        }
        finally
        {
            options.CallFinished?.Invoke(method.FullName, status.StatusCode, Stopwatch.GetElapsedTime(started));
        }
    }

    /// <summary>The call's request stream (client-streaming and duplex calls).</summary>
    protected RequestStream Requests(ServerCall call) => new(call, deserializeRequest);

    protected THandler Handler<THandler>(THandler? handler) where THandler : Delegate
        => handler ?? throw new RpcException(new Status(StatusCode.Unimplemented, $"method {method.FullName} has no handler"));

    private async ValueTask<object> ReadSingleRequestAsync(ServerCall call, CancellationToken token)
    {
        var (read, request) = await call.Reader.ReadAsync(call.Stream, deserializeRequest, call.Options.MaxReceiveMessageSize, token).ConfigureAwait(false);
        if (!read)
            throw new RpcException(new Status(StatusCode.Internal, "no request message for a unary request"));
        var (more, _) = await call.Reader.ReadAsync(call.Stream, deserializeRequest, call.Options.MaxReceiveMessageSize, token).ConfigureAwait(false);
        if (more)
            throw new RpcException(new Status(StatusCode.Internal, "more than one request message for a unary request"));
        return request!;
    }

    /// <summary>The request stream of a client-streaming or duplex call, messages as objects.</summary>
    protected sealed class RequestStream(ServerCall call, Func<DeserializationContext, object> deserialize)
    {
        public object? Current { get; private set; }

        public async Task<bool> MoveNextAsync(CancellationToken cancellationToken)
        {
            using var linked = cancellationToken.CanBeCanceled
                ? CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, call.CancellationToken)
                : null;
            var (read, message) = await call.Reader.ReadAsync(call.Stream, deserialize, call.Options.MaxReceiveMessageSize, linked?.Token ?? call.CancellationToken).ConfigureAwait(false);
            Current = read ? message : null;
            return read;
        }
    }
}

/// <summary>A bound method's typed part: its handler, called with typed messages (see <see cref="ServerMethod"/>).</summary>
internal sealed class ServerMethod<TRequest, TResponse>(Method<TRequest, TResponse> method)
    : ServerMethod(method, method.RequestMarshaller.ContextualDeserializer)
    where TRequest : class
    where TResponse : class
{
    public UnaryServerMethod<TRequest, TResponse>? Unary { get; init; }
    public ClientStreamingServerMethod<TRequest, TResponse>? ClientStreaming { get; init; }
    public ServerStreamingServerMethod<TRequest, TResponse>? ServerStreaming { get; init; }
    public DuplexStreamingServerMethod<TRequest, TResponse>? Duplex { get; init; }

    protected override Task InvokeUnary(object request, ServerCall call) => Handler(Unary)((TRequest)request, call);

    protected override Task InvokeServerStreaming(object request, ServerCall call) =>
        Handler(ServerStreaming)((TRequest)request, new ResponseWriter(call, method.ResponseMarshaller), call);

    protected override Task InvokeClientStreaming(ServerCall call) =>
        Handler(ClientStreaming)(new RequestReader(Requests(call)), call);

    protected override Task InvokeDuplex(ServerCall call) =>
        Handler(Duplex)(new RequestReader(Requests(call)), new ResponseWriter(call, method.ResponseMarshaller), call);

    protected override ValueTask WriteResponse(ServerCall call, Task completed, CancellationToken token) =>
        call.WriteMessageAsync(method.ResponseMarshaller, ((Task<TResponse>)completed).Result, flush: false, token);

    private sealed class RequestReader(RequestStream stream) : IAsyncStreamReader<TRequest>
    {
        public TRequest Current => (TRequest?)stream.Current ?? throw new InvalidOperationException("MoveNext has not returned true");

        public Task<bool> MoveNext(CancellationToken cancellationToken) => stream.MoveNextAsync(cancellationToken);
    }

    private sealed class ResponseWriter(ServerCall call, Marshaller<TResponse> marshaller) : IServerStreamWriter<TResponse>
    {
        public WriteOptions? WriteOptions
        {
            get => call.WriteOptions;
            set => call.WriteOptions = value;
        }

        public Task WriteAsync(TResponse message) => WriteAsync(message, CancellationToken.None);

        public Task WriteAsync(TResponse message, CancellationToken cancellationToken)
        {
            var token = cancellationToken.CanBeCanceled ? cancellationToken : call.CancellationToken;
            return call.WriteMessageAsync(marshaller, message, flush: WriteOptions is null || (WriteOptions.Flags & WriteFlags.BufferHint) == 0, token).AsTask();
        }
    }
}
