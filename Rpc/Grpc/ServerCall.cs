using Grpc.Core;
using MetaGpu.Rpc.Http2;

namespace MetaGpu.Rpc.Grpc;

/// <summary>
/// The server side of one call: its <see cref="ServerCallContext"/>, the response headers, messages and the final
/// status. The status is written once, by the handler's end or by the deadline, whichever comes first.
/// </summary>
internal sealed class ServerCall : ServerCallContext, IDisposable
{
    private static readonly AuthContext NoAuth = new(null, new Dictionary<string, List<AuthProperty>>());

    private readonly Http2Stream _stream;
    private readonly GrpcServerOptions _options;
    private readonly string _method;
    private readonly ConnectionPeer _peer;
    private readonly CancellationTokenSource? _deadlineCts;
    private readonly CancellationTokenSource? _linkedCts;
    private readonly DateTime _deadline = DateTime.MaxValue;
    private Metadata? _requestHeaders;
    private Metadata? _responseTrailers;
    private bool _headersSent;
    private int _finished;

    public ServerCall(Http2Stream stream, GrpcServerOptions options, string method, ConnectionPeer peer)
    {
        _stream = stream;
        _options = options;
        _method = method;
        _peer = peer;
        Reader = new MessageReader();
        Writer = new MessageWriter();
        // A timeout longer than a timer holds (1194H, 99999999S) means no deadline, as a far-away deadline would.
        if (GrpcProtocol.TryParseTimeout(GrpcProtocol.Find(stream.Headers, "grpc-timeout"), out var timeout) && timeout <= GrpcProtocol.LongestTimer)
        {
            _deadline = DateTime.UtcNow + timeout;
            _deadlineCts = new CancellationTokenSource();
            _linkedCts = CancellationTokenSource.CreateLinkedTokenSource(stream.Aborted, _deadlineCts.Token);
            _deadlineCts.Token.UnsafeRegister(static s => _ = ((ServerCall)s!).OnDeadlineAsync(), this);
            _deadlineCts.CancelAfter(timeout);
        }
    }

    public MessageReader Reader { get; }
    public MessageWriter Writer { get; }
    public Http2Stream Stream => _stream;
    public GrpcServerOptions Options => _options;
    public bool DeadlineExceeded => _deadlineCts?.IsCancellationRequested == true;
    public bool IsFinished => Volatile.Read(ref _finished) != 0;

    protected override string MethodCore => _method;
    protected override string HostCore => GrpcProtocol.Find(_stream.Headers, ":authority") ?? "";
    protected override string PeerCore => _peer.Name;
    public UnixPeer? UnixPeer => _peer.Unix;
    protected override DateTime DeadlineCore => _deadline;
    protected override Metadata RequestHeadersCore => _requestHeaders ??= GrpcProtocol.ToMetadata(_stream.Headers);
    protected override CancellationToken CancellationTokenCore => _linkedCts?.Token ?? _stream.Aborted;
    protected override Metadata ResponseTrailersCore => _responseTrailers ??= new Metadata();
    protected override Status StatusCore { get; set; }
    protected override WriteOptions? WriteOptionsCore { get; set; }
    protected override AuthContext AuthContextCore => NoAuth;

    protected override ContextPropagationToken CreatePropagationTokenCore(ContextPropagationOptions? options)
        => throw new NotSupportedException("context propagation is not supported by this server");

    protected override Task WriteResponseHeadersAsyncCore(Metadata responseHeaders)
    {
        if (_headersSent)
            throw new InvalidOperationException("response headers were already sent");
        if (IsFinished)
            throw new InvalidOperationException("the call is already complete");
        return SendHeadersAsync(responseHeaders, flush: true).AsTask();
    }

    /// <summary>The response headers of nearly every call, shared (the connection only reads them).</summary>
    private static readonly HeaderField[] PlainResponseHeaders = [new(":status", "200"), new("content-type", GrpcProtocol.ContentType)];

    private ValueTask SendHeadersAsync(Metadata? metadata, bool flush)
    {
        _headersSent = true;
        if (metadata is null || metadata.Count == 0)
            return _stream.WriteHeadersAsync(PlainResponseHeaders, endStream: false, flush);
        var headers = new List<HeaderField>(PlainResponseHeaders.Length + metadata.Count);
        headers.AddRange(PlainResponseHeaders);
        GrpcProtocol.AddMetadata(headers, metadata);
        return _stream.WriteHeadersAsync(headers, endStream: false, flush);
    }

    /// <summary>Writes one response message: serialized here (generic, not async), sent by <see cref="WriteFramedAsync"/>.</summary>
    public ValueTask WriteMessageAsync<T>(Marshaller<T> marshaller, T message, bool flush, CancellationToken cancellationToken = default)
    {
        if (IsFinished)
        {
            return ValueTask.FromException(DeadlineExceeded
                ? new RpcException(new Status(StatusCode.DeadlineExceeded, "Deadline Exceeded"))
                : new InvalidOperationException("the call is already complete"));
        }
        ReadOnlyMemory<byte> framed;
        try
        {
            framed = Writer.Serialize(marshaller, message, _options.MaxSendMessageSize);
        }
        catch (Exception e)
        {
            return ValueTask.FromException(e);
        }
        return WriteFramedAsync(framed, flush, cancellationToken);
    }

    /// <summary>Sends a framed message (the headers first, if not sent yet); one state machine for every message type.</summary>
    private async ValueTask WriteFramedAsync(ReadOnlyMemory<byte> framed, bool flush, CancellationToken cancellationToken)
    {
        if (!_headersSent)
            await SendHeadersAsync(null, flush: false).ConfigureAwait(false);
        await _stream.WriteDataAsync(framed, endStream: false, flush, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Sends the status (trailers, or Trailers-Only when nothing was sent yet) unless it was sent already.</summary>
    public async ValueTask FinishAsync(Status status)
    {
        if (Interlocked.Exchange(ref _finished, 1) != 0)
            return;
        await StatusWriter.SendAsync(_stream, _headersSent ? null : "200", status, _responseTrailers).ConfigureAwait(false);
    }

    private async Task OnDeadlineAsync()
    {
        await FinishAsync(new Status(StatusCode.DeadlineExceeded, "Deadline Exceeded")).ConfigureAwait(false);
        if (!_stream.IsReadCompleted)
            _stream.Reset(Http2ErrorCode.Cancel);
    }

    public void Dispose()
    {
        _linkedCts?.Dispose();
        _deadlineCts?.Dispose();
        Reader.Dispose();
        Writer.Dispose();
    }
}
