
namespace MetaGpu.Rpc.Http2;

/// <summary>Opening, writing to and closing streams, with flow control on what we send.</summary>
public sealed partial class Http2Connection
{

    /// <summary>
    /// Opens a stream (client role) and queues its HEADERS. Waits while the peer's MAX_CONCURRENT_STREAMS is reached.
    /// Pass <paramref name="flush"/> false when DATA follows at once, so both leave together.
    /// </summary>
    public async ValueTask<Http2Stream> OpenStreamAsync(IReadOnlyList<HeaderField> headers, bool endStream, bool flush, CancellationToken cancellationToken)
    {
        while (true)
        {
            TaskCompletionSource? slot = null;
            Http2Stream? stream = null;
            var startFlush = false;
            lock (StateLock)
            {
                if (_closed || _goAwayReceived || _goAwaySent)
                    throw new Http2ConnectionClosedException(_closeReason ?? "connection is closing (GOAWAY)");
                if (_activeLocal >= _peerMaxConcurrentStreams)
                {
                    slot = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                    (_streamSlotWaiters ??= []).Add(slot);
                }
                else
                {
                    var id = _nextLocalStreamId;
                    _nextLocalStreamId += 2;
                    stream = new Http2Stream(this, id, _peerInitialWindowSize, _options.StreamWindowSize, awaitHeaders: true);
                    _streams.Add(id, stream);
                    _activeLocal++;
                    AppendHeadersLocked(id, headers, endStream);
                    if (endStream)
                        stream.LocalEnded = true;
                    if (flush)
                        startFlush = ScheduleFlushLocked();
                }
            }
            if (stream is not null)
            {
                if (startFlush)
                    await FlushLoopAsync().ConfigureAwait(false);
                return stream;
            }
            await slot!.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    internal async ValueTask WriteHeadersAsync(Http2Stream stream, IReadOnlyList<HeaderField> headers, bool endStream, bool flush)
    {
        bool startFlush;
        lock (StateLock)
        {
            ThrowIfNotWritableLocked(stream);
            AppendHeadersLocked(stream.Id, headers, endStream);
            if (endStream)
            {
                stream.LocalEnded = true;
                TryCompleteLocked(stream);
            }
            startFlush = flush && ScheduleFlushLocked();
        }
        if (startFlush)
            await FlushLoopAsync().ConfigureAwait(false);
    }

    internal async ValueTask WriteDataAsync(Http2Stream stream, ReadOnlyMemory<byte> data, bool endStream, bool flush, CancellationToken cancellationToken)
    {
        var wantEnd = endStream;
        while (true)
        {
            var done = false;
            var startFlush = false;
            Task? backlog = null;
            lock (StateLock)
            {
                ThrowIfNotWritableLocked(stream);
                while (!data.IsEmpty)
                {
                    var n = (int)Math.Min(Math.Min(stream.SendWindow, _connectionSendWindow), Math.Min(data.Length, Http2Limits.MaxFrameSize));
                    if (n <= 0)
                        break;
                    var last = n == data.Length;
                    AppendFrameLocked(FrameType.Data, last && endStream ? FrameFlags.EndStream : FrameFlags.None, stream.Id, data.Span[..n]);
                    stream.SendWindow -= n;
                    _connectionSendWindow -= n;
                    data = data[n..];
                    if (last && endStream)
                        endStream = false; // sent with the last frame
                }
                if (data.IsEmpty)
                {
                    if (endStream)
                        AppendFrameLocked(FrameType.Data, FrameFlags.EndStream, stream.Id, default);
                    if (wantEnd)
                    {
                        stream.LocalEnded = true;
                        TryCompleteLocked(stream);
                    }
                    done = true;
                    startFlush = flush && ScheduleFlushLocked();
                    if (!startFlush && _flushing && _pending.WrittenCount > PendingFlushWait)
                        backlog = (_flushProgress ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task;
                }
                else
                {
                    // Out of window: send what is queued so the peer can read it and grant more.
                    startFlush = ScheduleFlushLocked();
                    if (_connectionSendWindow <= 0)
                        _connectionWindowWaiters.Add(stream);
                }
            }
            if (startFlush)
                await FlushLoopAsync().ConfigureAwait(false);
            if (done)
            {
                if (backlog is not null)
                    await backlog.WaitAsync(cancellationToken).ConfigureAwait(false);
                return;
            }
            await stream.WaitWritableAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    private void ThrowIfNotWritableLocked(Http2Stream stream)
    {
        if (stream.ResetCode is not null)
            throw new Http2StreamAbortedException(stream);
        if (_closed)
            throw new Http2StreamAbortedException(stream, "connection closed: " + _closeReason);
        if (stream.LocalEnded)
            throw new InvalidOperationException($"stream {stream.Id} already ended its side");
    }

    public void ResetStream(Http2Stream stream, Http2ErrorCode code) => ResetStream(stream.Id, code, "reset locally");

    private void ResetStream(int streamId, Http2ErrorCode code, string reason)
    {
        Http2Stream? stream;
        bool startFlush;
        lock (StateLock)
        {
            if (_closed)
                return;
            _streams.TryGetValue(streamId, out stream);
            if (stream is not null)
            {
                if (stream.Closed)
                    return;
                AbortStreamLocked(stream, code, reason, connectionLost: false, refused: false);
            }
            AppendRstStreamLocked(streamId, code);
            startFlush = ScheduleFlushLocked();
        }
        stream?.FireAborted();
        if (startFlush)
            _ = FlushLoopAsync();
    }

    private void AbortStreamLocked(Http2Stream stream, Http2ErrorCode code, string reason, bool connectionLost, bool refused)
    {
        ReleaseInboxLocked(stream.AbortLockedAndCount(code, reason, connectionLost, refused));
        RemoveLocked(stream);
    }

    private bool TryCompleteLocked(Http2Stream stream)
    {
        if (!stream.LocalEnded || !stream.RemoteEnded)
            return false;
        RemoveLocked(stream);
        return true;
    }

    private void RemoveLocked(Http2Stream stream)
    {
        if (stream.Closed)
            return;
        stream.Closed = true;
        ReleaseLocked(stream.HeaderCharge);
        stream.HeaderCharge = 0;
        if (_streams.Remove(stream.Id))
        {
            if (stream.IsLocal)
                _activeLocal--;
            else
                _activeRemote--;
            if (_streams.Count == 0)
                _idleSince = Environment.TickCount64;
        }
        _connectionWindowWaiters.Remove(stream);
        WakeStreamSlotWaitersLocked();
        if ((_goAwaySent || _goAwayReceived) && _streams.Count == 0 && !_closed)
            _ = Task.Run(CloseWhenFlushedAsync);
    }

    private void ReleaseInboxLocked(int bytes)
    {
        _inboxBytes -= bytes;
        ReleaseLocked(bytes);
    }

    private void WakeStreamSlotWaitersLocked()
    {
        if (_streamSlotWaiters is not { Count: > 0 })
            return;
        foreach (var w in _streamSlotWaiters)
            w.TrySetResult();
        _streamSlotWaiters.Clear();
    }
}
