using Grpc.Core;
using MetaGpu.Rpc.Http2;

namespace MetaGpu.Rpc.Grpc;

/// <summary>
/// The client side of one call on a <see cref="UnixChannel"/>. Every failure ends as an <see cref="RpcException"/>
/// with a status saying what happened: the server's status, DEADLINE_EXCEEDED, CANCELLED, or UNAVAILABLE when the
/// connection could not be made or was lost.
/// <para>
/// Not generic: the call's flow handles its messages as objects, serialized by the typed entry points (generic, not
/// async) and deserialized by the response marshaller's deserializer. Each generic async method would be a state
/// machine, a task box and awaiters of its own in the native binary for every method's message types (docs/size.md).
/// </para>
/// </summary>
internal sealed class ClientCall
{
    private const int CancelledByUser = 1;
    private const int CancelledByDeadline = 2;
    private const int CancelledByDispose = 3;

    private readonly UnixChannel _channel;
    private readonly IMethod _method;
    private readonly Func<DeserializationContext, object> _deserializeResponse;
    private readonly CallOptions _options;
    private readonly DateTime _deadline;
    private readonly CancellationTokenSource _cts = new();
    private readonly CancellationTokenRegistration _userRegistration;
    private readonly CancellationTokenSource? _deadlineTimer;
    private readonly MessageReader _reader = new();
    private readonly MessageWriter _writer = new();
    private Task? _started;
    private Task<Metadata>? _headers;
    private Http2Stream? _stream;
    private Status? _status;
    private Metadata? _trailers;
    private int _cancelReason;
    private bool _requestCompleted;

    private object? _current;

    private ClientCall(UnixChannel channel, IMethod method, Func<DeserializationContext, object> deserializeResponse, CallOptions options)
    {
        _channel = channel;
        _method = method;
        _deserializeResponse = deserializeResponse;
        _options = options;
        _deadline = options.Deadline is { } d && d != DateTime.MaxValue ? d.ToUniversalTime() : DateTime.MaxValue;
        _cts.Token.UnsafeRegister(static s => ((ClientCall)s!)._stream?.Reset(Http2ErrorCode.Cancel), this);
        if (options.CancellationToken.CanBeCanceled)
            _userRegistration = options.CancellationToken.UnsafeRegister(static s => ((ClientCall)s!).Cancel(CancelledByUser), this);
        if (_deadline != DateTime.MaxValue)
        {
            var left = _deadline - DateTime.UtcNow;
            if (left <= TimeSpan.Zero)
            {
                Cancel(CancelledByDeadline);
            }
            else if (left <= GrpcProtocol.LongestTimer)
            {
                _deadlineTimer = new CancellationTokenSource(left);
                _deadlineTimer.Token.UnsafeRegister(static s => ((ClientCall)s!).Cancel(CancelledByDeadline), this);
            }
        }
    }

    /// <summary>A started call; with a request (unary and server-streaming calls), it is sent and the request stream ended.</summary>
    public static ClientCall Start<TRequest, TResponse>(UnixChannel channel, Method<TRequest, TResponse> method, CallOptions options, TRequest? request)
        where TRequest : class
        where TResponse : class
    {
        var call = new ClientCall(channel, method, method.ResponseMarshaller.ContextualDeserializer, options);
        call.Start(method.RequestMarshaller, request);
        return call;
    }

    public static IAsyncStreamReader<TResponse> ResponseStream<TResponse>(ClientCall call) where TResponse : class => new ResponseReader<TResponse>(call);

    public static IClientStreamWriter<TRequest> RequestStream<TRequest>(ClientCall call, Marshaller<TRequest> marshaller) => new RequestWriter<TRequest>(call, marshaller);

    /// <summary>The typed view of a response task (one small state machine per response type, not per method).</summary>
    public static async Task<TResponse> Typed<TResponse>(Task<object> response) where TResponse : class
        => (TResponse)await response.ConfigureAwait(false);

    public Task<Metadata> ResponseHeadersAsync => _headers ??= ReadHeadersAsync();

    public Status GetStatus() => _status ?? throw new InvalidOperationException("the call is not complete, so it has no status yet");

    public Metadata GetTrailers() => _trailers ?? throw new InvalidOperationException("the call is not complete, so it has no trailers yet");

    private void Cancel(int reason)
    {
        Interlocked.CompareExchange(ref _cancelReason, reason, 0);
        try
        {
            _cts.Cancel();
        }
        catch (ObjectDisposedException)
        {
        }
    }

    private void Start<TRequest>(Marshaller<TRequest> marshaller, TRequest? request) where TRequest : class
    {
        ReadOnlyMemory<byte>? payload = null;
        if (request is not null)
        {
            try
            {
                payload = _writer.Serialize(marshaller, request, _channel.Options.MaxSendMessageSize);
            }
            catch (Exception e)
            {
                _started = Task.FromException(Fail(e));
                return;
            }
        }
        _started = StartAsync(payload);
    }

    private async Task StartAsync(ReadOnlyMemory<byte>? request)
    {
        try
        {
            var headers = BuildHeaders();
            for (var attempt = 0; ; attempt++)
            {
                var connection = await _channel.GetConnectionAsync(_deadline, _cts.Token).ConfigureAwait(false);
                try
                {
                    _stream = await connection.OpenStreamAsync(headers, endStream: false, flush: request is null, _cts.Token).ConfigureAwait(false);
                    break;
                }
                catch (Http2ConnectionClosedException) when (attempt == 0)
                {
                    // The connection went away between the check and the open: nothing was sent, so try a fresh one.
                }
            }
            if (_cts.IsCancellationRequested)
                _stream.Reset(Http2ErrorCode.Cancel);
            if (request is { } payload)
            {
                _requestCompleted = true;
                await _stream.WriteDataAsync(payload, endStream: true, flush: true, _cts.Token).ConfigureAwait(false);
            }
        }
        catch (Exception e)
        {
            throw Fail(e);
        }
    }

    private List<HeaderField> BuildHeaders()
    {
        var headers = new List<HeaderField>(9 + (_options.Headers?.Count ?? 0))
        {
            new(":method", "POST"),
            new(":scheme", "http"),
            new(":path", _method.FullName),
            new(":authority", _channel.Options.Authority),
            new("content-type", GrpcProtocol.ContentType),
            new("te", "trailers"),
            new("user-agent", UserAgent),
        };
        if (_deadline != DateTime.MaxValue)
            headers.Add(new HeaderField("grpc-timeout", GrpcProtocol.FormatTimeout(_deadline - DateTime.UtcNow)));
        GrpcProtocol.AddMetadata(headers, _options.Headers);
        return headers;
    }

    private static readonly string UserAgent = "grpc-metagpu/" + BuildInfo.Version;

    private async Task<Metadata> ReadHeadersAsync()
    {
        try
        {
            await _started!.ConfigureAwait(false);
            // A cancelled call resets the stream, which faults this task: no separate token to wait on.
            var fields = await _stream!.HeadersReceived.ConfigureAwait(false);
            var httpStatus = GrpcProtocol.Find(fields, ":status");
            if (httpStatus != "200")
            {
                var code = int.TryParse(httpStatus, out var http) ? GrpcProtocol.FromHttpStatus(http) : StatusCode.Internal;
                var detail = GrpcProtocol.PercentDecode(GrpcProtocol.Find(fields, "grpc-message"));
                throw new RpcException(new Status(code, $"bad gRPC response: HTTP status {httpStatus}" + (detail.Length > 0 ? ": " + detail : "")));
            }
            var metadata = GrpcProtocol.ToMetadata(fields);
            if (GrpcProtocol.Find(fields, "grpc-status") is not null)
            {
                // Trailers-Only: the one header block is also the trailers.
                _trailers = metadata;
                _status = GrpcProtocol.StatusFrom(fields);
                return metadata;
            }
            var contentType = GrpcProtocol.Find(fields, "content-type");
            if (!GrpcProtocol.IsGrpcContentType(contentType))
                throw new RpcException(new Status(StatusCode.Internal, $"response content-type '{contentType}' is not gRPC"));
            return metadata;
        }
        catch (Exception e)
        {
            throw Fail(e);
        }
    }

    /// <summary>Next response message; false when the response ended (its status is then set).</summary>
    private async ValueTask<(bool Read, object? Message)> ReadMessageAsync()
    {
        await ResponseHeadersAsync.ConfigureAwait(false);
        if (_status is not null)
            return (false, null);
        var (read, message) = await _reader.ReadAsync(_stream!, _deserializeResponse, _channel.Options.MaxReceiveMessageSize, _cts.Token).ConfigureAwait(false);
        if (read)
            return (true, message);
        var trailers = _stream!.Trailers;
        if (trailers is null)
            throw new RpcException(new Status(StatusCode.Internal, "the response ended without trailers"));
        _trailers = GrpcProtocol.ToMetadata(trailers);
        _status = GrpcProtocol.StatusFrom(trailers);
        return (false, null);
    }

    private void ThrowIfNotOk()
    {
        if (_status is { } status && status.StatusCode != StatusCode.OK)
            throw new RpcException(status, _trailers ?? new Metadata());
    }

    public async Task<object> ReadSingleResponseAsync()
    {
        try
        {
            await _started!.ConfigureAwait(false);
            var (read, response) = await ReadMessageAsync().ConfigureAwait(false);
            if (!read)
            {
                ThrowIfNotOk();
                throw new RpcException(new Status(StatusCode.Internal, "the server sent no response message"));
            }
            var (more, _) = await ReadMessageAsync().ConfigureAwait(false);
            if (more)
                throw new RpcException(new Status(StatusCode.Internal, "the server sent more than one response message"));
            ThrowIfNotOk();
            Complete();
            return response!;
        }
        catch (Exception e)
        {
            throw Fail(e);
        }
    }

    /// <summary>Turns any failure into the call's final status (set once) and the exception the caller sees.</summary>
    private RpcException Fail(Exception e)
    {
        lock (_cts)
        {
            if (_status is null || (_status.Value.StatusCode == StatusCode.OK && e is RpcException { StatusCode: not StatusCode.OK }))
            {
                _status = ClassifyFailure(e);
                _trailers ??= e is RpcException r ? r.Trailers : new Metadata();
            }
        }
        if (_stream is { } stream && !stream.Aborted.IsCancellationRequested)
            stream.Reset(Http2ErrorCode.Cancel);
        Complete();
        return new RpcException(_status!.Value, _trailers!);
    }

    private Status ClassifyFailure(Exception e)
    {
        if (e is RpcException rpc)
            return rpc.Status;
        // The server may have finished (trailers received) and then reset a request it no longer needed.
        if (_stream is { } s)
        {
            var final = s.Trailers ?? (GrpcProtocol.Find(s.Headers, "grpc-status") is not null ? s.Headers : null);
            if (final is not null)
            {
                _trailers = GrpcProtocol.ToMetadata(final);
                return GrpcProtocol.StatusFrom(final);
            }
        }
        switch (Volatile.Read(ref _cancelReason))
        {
            case CancelledByDeadline: return new Status(StatusCode.DeadlineExceeded, "Deadline Exceeded");
            case CancelledByUser: return new Status(StatusCode.Cancelled, "Call canceled by the client.");
            case CancelledByDispose: return new Status(StatusCode.Cancelled, "Call disposed.");
        }
        return e switch
        {
            Http2StreamAbortedException { Stream: { ConnectionLost: true } or { Refused: true } } a => new Status(StatusCode.Unavailable, a.Message),
            Http2StreamAbortedException a => new Status(GrpcProtocol.FromResetCode(a.Stream.ResetCode ?? Http2ErrorCode.InternalError), $"stream reset by the server ({a.Stream.ResetCode})"),
            Http2ConnectionClosedException c => new Status(StatusCode.Unavailable, c.Message),
            IOException or System.Net.Sockets.SocketException => new Status(StatusCode.Unavailable, "connection lost: " + e.Message),
            ObjectDisposedException => new Status(StatusCode.Unavailable, "the channel was disposed"),
            OperationCanceledException => new Status(StatusCode.Cancelled, "Call canceled."),
            _ => new Status(StatusCode.Internal, $"{e.GetType().Name}: {e.Message}"),
        };
    }

    private void Complete()
    {
        _userRegistration.Dispose();
        _deadlineTimer?.Dispose();
        // The last response buffer goes back to the budget: a channel lives for many calls (the pod-resources
        // client's, for the daemon's life), and each kept buffer stayed charged to its connection.
        _reader.Dispose();
    }

    public void Dispose()
    {
        if (_status is null)
        {
            Cancel(CancelledByDispose);
            lock (_cts)
            {
                _status ??= new Status(StatusCode.Cancelled, "Call disposed.");
                _trailers ??= new Metadata();
            }
        }
        Complete();
    }

    /// <summary>The next response message of a streaming response; false at its end (a non-OK status throws).</summary>
    private async Task<bool> MoveNextAsync(CancellationToken cancellationToken)
    {
        using var registration = cancellationToken.CanBeCanceled
            ? cancellationToken.UnsafeRegister(static s => ((ClientCall)s!).Cancel(CancelledByUser), this)
            : default;
        try
        {
            var (read, message) = await ReadMessageAsync().ConfigureAwait(false);
            if (read)
            {
                _current = message;
                return true;
            }
            _current = null;
            ThrowIfNotOk();
            Complete();
            return false;
        }
        catch (Exception e)
        {
            throw Fail(e);
        }
    }

    /// <summary>Sends one framed request message of a streaming request.</summary>
    private async Task WriteFramedAsync(ReadOnlyMemory<byte> framed, bool flush, CancellationToken cancellationToken)
    {
        using var registration = cancellationToken.CanBeCanceled
            ? cancellationToken.UnsafeRegister(static s => ((ClientCall)s!).Cancel(CancelledByUser), this)
            : default;
        try
        {
            await _started!.ConfigureAwait(false);
            await _stream!.WriteDataAsync(framed, endStream: false, flush, _cts.Token).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            throw Fail(e);
        }
    }

    private async Task CompleteRequestAsync()
    {
        if (_requestCompleted)
            return;
        _requestCompleted = true;
        try
        {
            await _started!.ConfigureAwait(false);
            await _stream!.WriteDataAsync(ReadOnlyMemory<byte>.Empty, endStream: true, flush: true, _cts.Token).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            throw Fail(e);
        }
    }

    private sealed class ResponseReader<TResponse>(ClientCall call) : IAsyncStreamReader<TResponse> where TResponse : class
    {
        public TResponse Current => (TResponse?)call._current ?? throw new InvalidOperationException("MoveNext has not returned true");

        public Task<bool> MoveNext(CancellationToken cancellationToken) => call.MoveNextAsync(cancellationToken);
    }

    private sealed class RequestWriter<TRequest>(ClientCall call, Marshaller<TRequest> marshaller) : IClientStreamWriter<TRequest>
    {
        public WriteOptions? WriteOptions { get; set; }

        public Task WriteAsync(TRequest message) => WriteAsync(message, CancellationToken.None);

        public Task WriteAsync(TRequest message, CancellationToken cancellationToken)
        {
            if (call._requestCompleted)
                return Task.FromException(new InvalidOperationException("the request stream was already completed"));
            ReadOnlyMemory<byte> framed;
            try
            {
                // Serialized before the call has started: only a call without a request message has a request stream,
                // so the start sends nothing from this buffer.
                framed = call._writer.Serialize(marshaller, message, call._channel.Options.MaxSendMessageSize);
            }
            catch (Exception e)
            {
                return Task.FromException(call.Fail(e));
            }
            var flush = WriteOptions is null || (WriteOptions.Flags & WriteFlags.BufferHint) == 0;
            return call.WriteFramedAsync(framed, flush, cancellationToken);
        }

        public Task CompleteAsync() => call.CompleteRequestAsync();
    }
}
