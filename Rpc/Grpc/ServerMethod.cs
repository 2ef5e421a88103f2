using System.Diagnostics;
using Grpc.Core;
using MetaGpu.Rpc.Http2;
using Microsoft.Extensions.Logging;

namespace MetaGpu.Rpc.Grpc;

internal interface IServerMethod
{
    /// <summary>Whether the call may run on the connection's read loop (see <see cref="GrpcServer.AddUnary{TRequest,TResponse}"/>).</summary>
    bool Inline { get; }

    Task HandleAsync(Http2Stream stream, GrpcServerOptions options, ConnectionPeer peer);
}

/// <summary>Runs one bound method for one call: reads the request message(s), calls the handler, writes the response and status.</summary>
internal sealed class ServerMethod<TRequest, TResponse>(Method<TRequest, TResponse> method) : IServerMethod
    where TRequest : class
    where TResponse : class
{
    public UnaryServerMethod<TRequest, TResponse>? Unary { get; init; }
    public ClientStreamingServerMethod<TRequest, TResponse>? ClientStreaming { get; init; }
    public ServerStreamingServerMethod<TRequest, TResponse>? ServerStreaming { get; init; }
    public DuplexStreamingServerMethod<TRequest, TResponse>? Duplex { get; init; }
    public bool Inline { get; init; }

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
                    var response = await Invoke(Unary, method)(request, call).ConfigureAwait(false);
                    await call.WriteMessageAsync(method.ResponseMarshaller, response, flush: false, token).ConfigureAwait(false);
                    break;
                }
                case MethodType.ServerStreaming:
                {
                    var request = await ReadSingleRequestAsync(call, token).ConfigureAwait(false);
                    await Invoke(ServerStreaming, method)(request, new ResponseWriter(call, method.ResponseMarshaller), call).ConfigureAwait(false);
                    break;
                }
                case MethodType.ClientStreaming:
                {
                    var response = await Invoke(ClientStreaming, method)(new RequestReader(call, method.RequestMarshaller), call).ConfigureAwait(false);
                    await call.WriteMessageAsync(method.ResponseMarshaller, response, flush: false, token).ConfigureAwait(false);
                    break;
                }
                default:
                    await Invoke(Duplex, method)(new RequestReader(call, method.RequestMarshaller), new ResponseWriter(call, method.ResponseMarshaller), call).ConfigureAwait(false);
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

    private static THandler Invoke<THandler>(THandler? handler, Method<TRequest, TResponse> method) where THandler : Delegate
        => handler ?? throw new RpcException(new Status(StatusCode.Unimplemented, $"method {method.FullName} has no handler"));

    private async ValueTask<TRequest> ReadSingleRequestAsync(ServerCall call, CancellationToken token)
    {
        var (read, request) = await call.Reader.ReadAsync(call.Stream, method.RequestMarshaller, call.Options.MaxReceiveMessageSize, token).ConfigureAwait(false);
        if (!read)
            throw new RpcException(new Status(StatusCode.Internal, "no request message for a unary request"));
        var (more, _) = await call.Reader.ReadAsync(call.Stream, method.RequestMarshaller, call.Options.MaxReceiveMessageSize, token).ConfigureAwait(false);
        if (more)
            throw new RpcException(new Status(StatusCode.Internal, "more than one request message for a unary request"));
        return request;
    }

    private sealed class RequestReader(ServerCall call, Marshaller<TRequest> marshaller) : IAsyncStreamReader<TRequest>
    {
        private TRequest? _current;

        public TRequest Current => _current ?? throw new InvalidOperationException("MoveNext has not returned true");

        public async Task<bool> MoveNext(CancellationToken cancellationToken)
        {
            using var linked = cancellationToken.CanBeCanceled
                ? CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, call.CancellationToken)
                : null;
            var (read, message) = await call.Reader.ReadAsync(call.Stream, marshaller, call.Options.MaxReceiveMessageSize, linked?.Token ?? call.CancellationToken).ConfigureAwait(false);
            _current = read ? message : null;
            return read;
        }
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
