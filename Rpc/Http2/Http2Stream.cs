namespace MetaGpu.Rpc.Http2;

/// <summary>
/// One HTTP/2 stream, in either role. Its reader takes received DATA through <see cref="ReadAsync"/>; its writer
/// sends HEADERS and DATA through the connection, which enforces flow control. All state that the connection's
/// read loop also touches is guarded by the connection's lock.
/// </summary>
public sealed class Http2Stream
{
    private readonly Http2Connection _connection;
    private readonly ByteQueue _inbox = new();
    private readonly AsyncSignal _readable = new();
    private readonly AsyncSignal _writable = new();
    private readonly CancellationTokenSource _aborted = new();
    private TaskCompletionSource<List<HeaderField>>? _headersReceived;

    internal Http2Stream(Http2Connection connection, int id, int sendWindow, int receiveWindow, bool awaitHeaders)
    {
        _connection = connection;
        Id = id;
        SendWindow = sendWindow;
        ReceiveWindow = receiveWindow;
        if (awaitHeaders)
            _headersReceived = new TaskCompletionSource<List<HeaderField>>(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    public int Id { get; }
    public Http2Connection Connection => _connection;

    /// <summary>The first header block the peer sent: the request (server role) or the response headers (client role).</summary>
    public List<HeaderField>? Headers { get; private set; }

    /// <summary>The trailing header block the peer sent with END_STREAM, if any.</summary>
    public List<HeaderField>? Trailers { get; private set; }

    /// <summary>Cancelled when the stream is reset by either side or the connection is lost.</summary>
    public CancellationToken Aborted => _aborted.Token;

    /// <summary>Set when the stream was reset by the peer (RST_STREAM) or the connection went away; null otherwise.</summary>
    public Http2ErrorCode? ResetCode { get; private set; }

    /// <summary>Why the stream ended abnormally, for error messages.</summary>
    public string? AbortReason { get; private set; }

    /// <summary>The request's header list was over our SETTINGS_MAX_HEADER_LIST_SIZE; <see cref="Headers"/> holds only what fit.</summary>
    public bool HeaderListTooLarge { get; internal set; }

    /// <summary>True when the connection went away under this stream (as opposed to the peer resetting it).</summary>
    public bool ConnectionLost { get; private set; }

    /// <summary>True when the peer refused the stream before processing it (REFUSED_STREAM or above GOAWAY's last id): safe to retry.</summary>
    public bool Refused { get; private set; }

    // Guarded by the connection's lock.
    internal long SendWindow;
    internal int ReceiveWindow;
    internal int ConsumedUnacknowledged;
    internal bool RemoteEnded;
    internal bool LocalEnded;
    internal bool Closed;
    internal long HeaderCharge;
    internal bool IsLocal => (Id & 1) == (_connection.IsServer ? 0 : 1);

    /// <summary><see cref="Environment.TickCount64"/> when the reader began the message it is still waiting for; 0 between messages.</summary>
    internal long AssemblyStarted;

    /// <summary>
    /// The reader has the first bytes of a message and waits for the rest: from now on the connection's
    /// message-assembly timeout applies, until <see cref="EndAssembly"/>. Never called while a stream waits for a
    /// next message, so a stream silent between messages is never timed.
    /// </summary>
    public void BeginAssembly()
    {
        lock (_connection.StateLock)
            AssemblyStarted = Math.Max(1, Environment.TickCount64);
    }

    public void EndAssembly()
    {
        lock (_connection.StateLock)
            AssemblyStarted = 0;
    }

    /// <summary>Takes <paramref name="bytes"/> of the connection's and the process's memory budget (a message being assembled); false when used up.</summary>
    public bool TryReserveMemory(int bytes)
    {
        lock (_connection.StateLock)
            return _connection.TryChargeLocked(bytes);
    }

    /// <summary>Gives back what <see cref="TryReserveMemory"/> took.</summary>
    public void ReleaseMemory(int bytes)
    {
        lock (_connection.StateLock)
            _connection.ReleaseLocked(bytes);
    }

    /// <summary>Response headers (client role), or an exception when the stream ended without any.</summary>
    public Task<List<HeaderField>> HeadersReceived =>
        _headersReceived?.Task ?? (Headers is not null ? Task.FromResult(Headers) : throw new InvalidOperationException("not a client stream"));

    /// <summary>Reads received DATA. Returns 0 at END_STREAM; throws <see cref="Http2StreamAbortedException"/> when reset or lost.</summary>
    public async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        while (true)
        {
            int n;
            var flush = false;
            lock (_connection.StateLock)
            {
                n = _inbox.Dequeue(buffer.Span);
                if (n > 0)
                    flush = _connection.OnConsumedLocked(this, n);
                if (n == 0)
                {
                    if (ResetCode is not null)
                        throw new Http2StreamAbortedException(this);
                    if (RemoteEnded)
                        return 0;
                }
            }
            if (n > 0)
            {
                if (flush)
                    await _connection.FlushLoopAsync().ConfigureAwait(false);
                return n;
            }
            await _readable.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Reads exactly <paramref name="buffer"/>.Length bytes; false if the stream ended cleanly before the first byte.</summary>
    public async ValueTask<bool> ReadExactlyAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        var read = 0;
        while (read < buffer.Length)
        {
            var n = await ReadAsync(buffer[read..], cancellationToken).ConfigureAwait(false);
            if (n == 0)
            {
                if (read == 0)
                    return false;
                throw new Http2StreamAbortedException(this, "stream ended in the middle of a message");
            }
            read += n;
        }
        return true;
    }

    /// <summary>True once the peer ended its side and every received byte has been read.</summary>
    public bool IsReadCompleted
    {
        get
        {
            lock (_connection.StateLock)
                return RemoteEnded && _inbox.Count == 0;
        }
    }

    public ValueTask WriteHeadersAsync(IReadOnlyList<HeaderField> headers, bool endStream, bool flush = true)
        => _connection.WriteHeadersAsync(this, headers, endStream, flush);

    public ValueTask WriteDataAsync(ReadOnlyMemory<byte> data, bool endStream, bool flush = true, CancellationToken cancellationToken = default)
        => _connection.WriteDataAsync(this, data, endStream, flush, cancellationToken);

    /// <summary>Resets the stream (RST_STREAM with <paramref name="code"/>) unless it is already closed.</summary>
    public void Reset(Http2ErrorCode code) => _connection.ResetStream(this, code);

    // Called by the connection, under its lock.
    // The read loop records what arrived and wakes the stream's reader once per batch of frames (Wake), so a
    // reader woken by HEADERS finds the DATA and trailers of the same read already in place.
    internal void EnqueueLocked(ReadOnlySpan<byte> data) => _inbox.Enqueue(data);

    internal int BufferedCount => _inbox.Count;

    internal void OnHeadersLocked(List<HeaderField> headers, bool endStream)
    {
        if (Headers is null)
            Headers = headers;
        else
        {
            Trailers = headers;
        }
        if (endStream)
            RemoteEnded = true;
    }

    internal void OnRemoteEndLocked() => RemoteEnded = true;

    /// <summary>Set while the stream waits in the connection's wake list for the end of the current batch.</summary>
    internal bool WakeQueued;

    /// <summary>Wakes the reader (and whoever awaits the headers) after the read loop finished a batch of frames.</summary>
    internal void Wake()
    {
        WakeQueued = false;
        if (Headers is { } headers)
            _headersReceived?.TrySetResult(headers);
        _readable.Set(continueHere: ReaderContinuesOnReadLoop);
    }

    /// <summary>
    /// For a call the server runs on the read loop (an inline method with a request size): while the request comes
    /// in later reads, the waiting reader goes on where the read loop wakes it (<see cref="Wake"/>) instead of on the
    /// thread pool, until a message's length prefix says it is larger than the size (<see cref="LeavesReadLoopFor"/>).
    /// Aborts and window updates still wake on the pool. Set and cleared on the read loop, before any wake.
    /// </summary>
    internal bool ReaderContinuesOnReadLoop { get; private set; }

    private int _readLoopMessageBytes;

    /// <summary>Lets the reader go on on the read loop for messages of at most <paramref name="maxMessageBytes"/>.</summary>
    internal void ContinueReadsOnReadLoop(int maxMessageBytes)
    {
        _readLoopMessageBytes = maxMessageBytes;
        ReaderContinuesOnReadLoop = true;
    }

    /// <summary>
    /// Whether a message of <paramref name="length"/> bytes, just announced, is too large to be read and handled on
    /// the read loop; if so, from now on the reader wakes on the pool, and the caller must leave the read loop.
    /// </summary>
    internal bool LeavesReadLoopFor(uint length)
    {
        if (!ReaderContinuesOnReadLoop || length <= (uint)_readLoopMessageBytes)
            return false;
        ReaderContinuesOnReadLoop = false;
        return true;
    }

    internal void SignalWritable() => _writable.Set();

    internal ValueTask WaitWritableAsync(CancellationToken cancellationToken) => _writable.WaitAsync(cancellationToken);

    /// <summary>Marks the stream dead: readers and writers wake and fail, the token fires. Returns bytes that were still buffered.</summary>
    internal int AbortLockedAndCount(Http2ErrorCode code, string reason, bool connectionLost, bool refused)
    {
        if (ResetCode is null)
        {
            ResetCode = code;
            AbortReason = reason;
            ConnectionLost = connectionLost;
            Refused = refused;
        }
        var buffered = _inbox.Count;
        _inbox.Clear();
        _readable.Set();
        _writable.Set();
        _headersReceived?.TrySetException(new Http2StreamAbortedException(this));
        return buffered;
    }

    /// <summary>Fires the abort token outside the connection's lock (callbacks run user code).</summary>
    internal void FireAborted()
    {
        try
        {
            _aborted.Cancel();
        }
        catch (AggregateException)
        {
            // A user callback on the token threw; the stream is dead either way.
        }
    }
}

/// <summary>The stream was reset or its connection lost; <see cref="Stream"/> says which and why.</summary>
public sealed class Http2StreamAbortedException : IOException
{
    public Http2StreamAbortedException(Http2Stream stream, string? message = null)
        : base(message ?? Describe(stream))
    {
        Stream = stream;
    }

    public Http2Stream Stream { get; }

    private static string Describe(Http2Stream s) => s.ConnectionLost
        ? $"connection lost: {s.AbortReason}"
        : $"stream {s.Id} reset ({s.ResetCode}): {s.AbortReason}";
}
