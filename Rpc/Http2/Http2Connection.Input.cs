using System.Buffers;
using System.Buffers.Binary;
using System.Net.Sockets;
using MetaGpu.Rpc.Hpack;
using Microsoft.Extensions.Logging;

namespace MetaGpu.Rpc.Http2;

/// <summary>The read loop: frames in, parsed from a pooled buffer, each checked against RFC 9113.</summary>
public sealed partial class Http2Connection
{

    private async Task RunAsync()
    {
        Http2ErrorCode goAwayCode = Http2ErrorCode.NoError;
        string reason = "connection closed by peer";
        var sendGoAway = false;
        try
        {
            using (var handshake = new CancellationTokenSource(_options.HandshakeTimeout))
            {
                try
                {
                    if (IsServer)
                    {
                        // Compare as bytes arrive, so an HTTP/1 request or garbage is refused at once, not at the timeout.
                        var preface = Http2Limits.ClientPreface.Length;
                        for (var have = 1; ; have = Math.Min(preface, _readEnd - _readStart + 1))
                        {
                            await FillAsync(have, handshake.Token).ConfigureAwait(false);
                            var got = Math.Min(preface, _readEnd - _readStart);
                            if (!_readBuffer.AsSpan(_readStart, got).SequenceEqual(Http2Limits.ClientPreface[..got]))
                                throw new Http2ConnectionException(Http2ErrorCode.ProtocolError, "invalid connection preface (not an HTTP/2 client)");
                            if (got == preface)
                                break;
                        }
                        Consume(preface);
                    }
                    await FillAsync(Http2Limits.FrameHeaderLength, handshake.Token).ConfigureAwait(false);
                    if ((FrameType)_readBuffer![_readStart + 3] != FrameType.Settings)
                        throw new Http2ConnectionException(Http2ErrorCode.ProtocolError, "the first frame must be SETTINGS");
                    await ReadAndProcessFrameAsync(handshake.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (handshake.IsCancellationRequested)
                {
                    throw new Http2ConnectionException(Http2ErrorCode.SettingsTimeout, "no preface and SETTINGS within the handshake timeout");
                }
            }

            while (true)
                await ReadAndProcessFrameAsync(CancellationToken.None).ConfigureAwait(false);
        }
        catch (Http2ConnectionException e)
        {
            goAwayCode = e.Code;
            reason = e.Message;
            sendGoAway = true;
        }
        catch (EndOfStreamException)
        {
        }
        catch (Exception e) when (e is SocketException or IOException or ObjectDisposedException or OperationCanceledException)
        {
            reason = "connection lost: " + e.Message;
        }
        catch (Exception e)
        {
            // A bug of ours must not take the daemon down: close this connection and say why.
            goAwayCode = Http2ErrorCode.InternalError;
            reason = "internal error: " + e;
            sendGoAway = true;
        }

        // The loop can end inside a batch (GOAWAY with no stream left, EOF or an error after complete frames):
        // streams that finished in it have their whole response and must still be woken, or their readers wait
        // forever (Abort below only fails streams still open). Requests not yet dispatched die with the connection.
        _requestsToDispatch.Clear();
        EndBatch();

        if (sendGoAway)
        {
            _log?.LogDebug("HTTP/2 connection error {Code}: {Reason}", goAwayCode, reason);
            await SendGoAwayAndCloseAsync(goAwayCode, reason).ConfigureAwait(false);
        }
        else
        {
            Abort(reason);
        }
    }

    private async ValueTask ReadAndProcessFrameAsync(CancellationToken cancellationToken)
    {
        await FillAsync(Http2Limits.FrameHeaderLength, cancellationToken).ConfigureAwait(false);
        var header = _readBuffer.AsSpan(_readStart, Http2Limits.FrameHeaderLength);
        var length = (header[0] << 16) | (header[1] << 8) | header[2];
        var type = (FrameType)header[3];
        var flags = (FrameFlags)header[4];
        var streamId = (int)(BinaryPrimitives.ReadUInt32BigEndian(header[5..]) & 0x7fffffff);
        if (length > Http2Limits.MaxFrameSize)
            throw new Http2ConnectionException(Http2ErrorCode.FrameSizeError, $"frame of {length} bytes exceeds the maximum of {Http2Limits.MaxFrameSize}");

        await FillAsync(Http2Limits.FrameHeaderLength + length, cancellationToken).ConfigureAwait(false);
        var payload = _readBuffer.AsSpan(_readStart + Http2Limits.FrameHeaderLength, length);
        try
        {
            ProcessFrame(type, flags, streamId, payload);
        }
        catch (Http2StreamException e)
        {
            _log?.LogDebug("HTTP/2 stream {StreamId} error {Code}: {Reason}", e.StreamId, e.Code, e.Message);
            ResetStream(e.StreamId, e.Code, e.Message);
            lock (StateLock)
                _responseFramesQueued++;
            if (IsServer)
                CountReset();
        }
        Consume(Http2Limits.FrameHeaderLength + length);

        // Control frames written while processing (ACKs, WINDOW_UPDATE, RST_STREAM) leave once the input is
        // drained, or every few frames while a peer keeps sending.
        if (_readBuffer is null || ++_framesSinceFlush >= 16)
        {
            _framesSinceFlush = 0;
            EndBatch();
            FlushInBackground();
            await WaitForOutputRoomAsync().ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Stops reading while too many answers wait for the peer (grpc-go throttles its reader on its control frame
    /// queue the same way): what a peer asks for (PING and SETTINGS ACKs, RST_STREAM) is queued only as fast as it
    /// reads, so a peer that never reads stalls its own connection instead of growing our memory. Response DATA
    /// does not count (flow control and the writers' backlog bound it), so a peer busy sending a large request
    /// while we send a large response is never stalled by this. While the budget is over its limit (only output
    /// can take it there), any queued output pauses reading.
    /// </summary>
    private async ValueTask WaitForOutputRoomAsync()
    {
        while (true)
        {
            Task progress;
            bool startFlush;
            lock (StateLock)
            {
                var answers = _responseFramesQueued + _responseFramesSending;
                var queued = _pending.WrittenCount + _sendingCount;
                if (_closed || (answers <= Http2ConnectionOptions.MaxQueuedResponseFrames && !(_budget.IsOver && queued > 0)))
                    return;
                startFlush = ScheduleFlushLocked();
                progress = (_flushProgress ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task;
            }
            if (startFlush)
                _ = FlushLoopAsync();
            await progress.ConfigureAwait(false);
        }
    }

    /// <summary>Ensures <paramref name="count"/> bytes are buffered. Waits with a zero-byte read first, so an idle connection holds no buffer.</summary>
    private async ValueTask FillAsync(int count, CancellationToken cancellationToken)
    {
        while (_readEnd - _readStart < count)
        {
            if (_readBuffer is null)
            {
                await _socket.ReceiveAsync(Memory<byte>.Empty, SocketFlags.None, cancellationToken).ConfigureAwait(false);
                _readBuffer = ArrayPool<byte>.Shared.Rent(ReadBufferSize);
                _readStart = _readEnd = 0;
            }
            else if (_readBuffer.Length - _readStart < count)
            {
                Buffer.BlockCopy(_readBuffer, _readStart, _readBuffer, 0, _readEnd - _readStart);
                _readEnd -= _readStart;
                _readStart = 0;
            }
            var n = await _socket.ReceiveAsync(_readBuffer.AsMemory(_readEnd), SocketFlags.None, cancellationToken).ConfigureAwait(false);
            if (n == 0)
                throw new EndOfStreamException();
            _readEnd += n;
        }
    }

    private void Consume(int count)
    {
        _readStart += count;
        if (_readStart == _readEnd && _readBuffer is not null)
        {
            ArrayPool<byte>.Shared.Return(_readBuffer);
            _readBuffer = null;
            _readStart = _readEnd = 0;
        }
    }

    private void ProcessFrame(FrameType type, FrameFlags flags, int streamId, ReadOnlySpan<byte> payload)
    {
        if (_continuationStreamId != 0 && type != FrameType.Continuation)
            throw new Http2ConnectionException(Http2ErrorCode.ProtocolError, $"expected CONTINUATION for stream {_continuationStreamId}, got {type}");

        switch (type)
        {
            case FrameType.Data: OnData(flags, streamId, payload); break;
            case FrameType.Headers: OnHeaders(flags, streamId, payload); break;
            case FrameType.Priority: OnPriority(streamId, payload); break;
            case FrameType.RstStream: OnRstStream(streamId, payload); break;
            case FrameType.Settings: OnSettings(flags, streamId, payload); break;
            case FrameType.PushPromise:
                throw new Http2ConnectionException(Http2ErrorCode.ProtocolError, "PUSH_PROMISE received, but push is disabled");
            case FrameType.Ping: OnPing(flags, streamId, payload); break;
            case FrameType.GoAway: OnGoAway(streamId, payload); break;
            case FrameType.WindowUpdate: OnWindowUpdate(streamId, payload); break;
            case FrameType.Continuation: OnContinuation(flags, streamId, payload); break;
            default: break; // RFC 9113 5.5: unknown frame types are ignored.
        }
    }

    private static ReadOnlySpan<byte> RemovePadding(FrameFlags flags, ReadOnlySpan<byte> payload, out int padding)
    {
        padding = 0;
        if ((flags & FrameFlags.Padded) == 0)
            return payload;
        if (payload.Length < 1)
            throw new Http2ConnectionException(Http2ErrorCode.FrameSizeError, "padded frame without a pad length");
        padding = payload[0];
        if (padding >= payload.Length)
            throw new Http2ConnectionException(Http2ErrorCode.ProtocolError, "padding exceeds the frame payload");
        return payload[1..^padding];
    }

    private bool IsIdleStream(int streamId)
    {
        var remoteInitiated = (streamId & 1) == (IsServer ? 1 : 0);
        return remoteInitiated ? streamId > _lastRemoteStreamId : streamId >= _nextLocalStreamId;
    }

    private void OnData(FrameFlags flags, int streamId, ReadOnlySpan<byte> payload)
    {
        if (streamId == 0)
            throw new Http2ConnectionException(Http2ErrorCode.ProtocolError, "DATA on stream 0");
        var frameLength = payload.Length;
        var data = RemovePadding(flags, payload, out _);
        var endStream = (flags & FrameFlags.EndStream) != 0;

        lock (StateLock)
        {
            if (frameLength > _connectionReceiveWindow)
                throw new Http2ConnectionException(Http2ErrorCode.FlowControlError, $"DATA of {frameLength} bytes exceeds the connection window of {_connectionReceiveWindow}");
            _connectionReceiveWindow -= frameLength;

            if (!_streams.TryGetValue(streamId, out var stream))
            {
                if (IsIdleStream(streamId))
                    throw new Http2ConnectionException(Http2ErrorCode.ProtocolError, $"DATA on idle stream {streamId}");
                // A stream we already closed or reset: the peer may still have frames in flight. Give the window back.
                CreditConnectionLocked(frameLength);
                return;
            }
            if (stream.RemoteEnded)
            {
                CreditConnectionLocked(frameLength);
                throw new Http2StreamException(streamId, Http2ErrorCode.StreamClosed, "DATA after END_STREAM");
            }
            if (frameLength > stream.ReceiveWindow)
            {
                CreditConnectionLocked(frameLength);
                throw new Http2StreamException(streamId, Http2ErrorCode.FlowControlError, $"DATA of {frameLength} bytes exceeds the stream window of {stream.ReceiveWindow}");
            }
            if (!TryChargeLocked(data.Length))
            {
                CreditConnectionLocked(frameLength);
                throw new Http2StreamException(streamId, Http2ErrorCode.EnhanceYourCalm, "memory budget for buffered requests exhausted");
            }
            stream.ReceiveWindow -= frameLength;
            stream.EnqueueLocked(data);
            QueueWake(stream);
            _inboxBytes += data.Length;
            // Padding is never read by anyone: count it as consumed at once, for the stream and the connection.
            stream.ConsumedUnacknowledged += frameLength - data.Length;
            CreditConnectionLocked(frameLength);
            if (endStream)
            {
                stream.OnRemoteEndLocked();
                TryCompleteLocked(stream);
            }
        }
    }

    /// <summary>
    /// Gives the connection window back to the peer, unless we hold too much unread data already or the process is
    /// short of memory: then the peer waits (<see cref="Sweep"/> retries) instead of making us buffer more.
    /// </summary>
    private void CreditConnectionLocked(int bytes)
    {
        _connectionReceiveUnacknowledged += bytes;
        if (WithholdWindowLocked)
            return;
        if (_connectionReceiveUnacknowledged >= _options.ConnectionWindowSize / 4)
        {
            AppendWindowUpdateLocked(0, _connectionReceiveUnacknowledged);
            _connectionReceiveWindow += _connectionReceiveUnacknowledged;
            _connectionReceiveUnacknowledged = 0;
        }
    }

    private bool WithholdWindowLocked => _inboxBytes > _options.MaxBufferedBytes / 2 || _budget.IsNearlyFull;

    /// <summary>The stream's reader took <paramref name="bytes"/>: give the stream window back once half of it is used.</summary>
    internal bool OnConsumedLocked(Http2Stream stream, int bytes)
    {
        ReleaseInboxLocked(bytes);
        stream.ConsumedUnacknowledged += bytes;
        var queued = false;
        if (!stream.RemoteEnded && !stream.Closed && stream.ConsumedUnacknowledged >= _options.StreamWindowSize / 4)
        {
            AppendWindowUpdateLocked(stream.Id, stream.ConsumedUnacknowledged);
            stream.ReceiveWindow += stream.ConsumedUnacknowledged;
            stream.ConsumedUnacknowledged = 0;
            queued = true;
        }
        if (_connectionReceiveUnacknowledged > 0 && !WithholdWindowLocked)
        {
            var before = _connectionReceiveUnacknowledged;
            CreditConnectionLocked(0);
            queued |= _connectionReceiveUnacknowledged != before;
        }
        return queued && ScheduleFlushLocked();
    }

    private void OnHeaders(FrameFlags flags, int streamId, ReadOnlySpan<byte> payload)
    {
        if (streamId == 0)
            throw new Http2ConnectionException(Http2ErrorCode.ProtocolError, "HEADERS on stream 0");
        var fragment = RemovePadding(flags, payload, out _);
        if ((flags & FrameFlags.Priority) != 0)
        {
            if (fragment.Length < 5)
                throw new Http2ConnectionException(Http2ErrorCode.FrameSizeError, "HEADERS with PRIORITY shorter than 5 bytes");
            fragment = fragment[5..];
        }
        var endStream = (flags & FrameFlags.EndStream) != 0;
        if ((flags & FrameFlags.EndHeaders) != 0)
        {
            OnHeaderBlock(streamId, fragment, endStream);
            return;
        }
        _headerBlock.Reset(16 * 1024);
        AppendHeaderFragment(fragment);
        _continuationStreamId = streamId;
        _continuationEndStream = endStream;
        _continuationFrames = 0;
    }

    private void OnContinuation(FrameFlags flags, int streamId, ReadOnlySpan<byte> payload)
    {
        if (_continuationStreamId == 0 || streamId != _continuationStreamId)
            throw new Http2ConnectionException(Http2ErrorCode.ProtocolError, $"unexpected CONTINUATION on stream {streamId}");
        if (++_continuationFrames > MaxContinuationFrames)
            throw new Http2ConnectionException(Http2ErrorCode.EnhanceYourCalm, $"more than {MaxContinuationFrames} CONTINUATION frames in one header block");
        AppendHeaderFragment(payload);
        if ((flags & FrameFlags.EndHeaders) == 0)
            return;
        _continuationStreamId = 0;
        try
        {
            OnHeaderBlock(streamId, _headerBlock.WrittenSpan, _continuationEndStream);
        }
        finally
        {
            _headerBlock.Reset(16 * 1024);
            lock (StateLock)
            {
                ReleaseLocked(_headerBlockCharge);
                _headerBlockCharge = 0;
            }
        }
    }

    private void AppendHeaderFragment(ReadOnlySpan<byte> fragment)
    {
        if (_headerBlock.WrittenCount + fragment.Length > _options.MaxHeaderBlockSize)
            throw new Http2ConnectionException(Http2ErrorCode.EnhanceYourCalm, $"header block exceeds {_options.MaxHeaderBlockSize} bytes");
        lock (StateLock)
        {
            // HPACK state lives in the block: it cannot be dropped and the stream alone refused.
            if (!TryChargeLocked(fragment.Length))
                throw new Http2ConnectionException(Http2ErrorCode.EnhanceYourCalm, "memory budget for header blocks exhausted");
            _headerBlockCharge += fragment.Length;
        }
        _headerBlock.Write(fragment);
    }

    /// <summary>What a decoded header list costs while its stream is open: UTF-16 strings plus objects, roughly.</summary>
    private static long HeaderListCost(List<HeaderField> fields)
    {
        long cost = 512; // the stream itself
        foreach (var f in fields)
            cost += 2L * (f.Name.Length + f.Value.Length) + 64;
        return cost;
    }

    private void OnHeaderBlock(int streamId, ReadOnlySpan<byte> block, bool endStream)
    {
        var collector = new HeaderCollector(_options.MaxHeaderListSize, _headerStrings);
        try
        {
            _decoder.Decode(block, collector);
        }
        catch (HpackException e)
        {
            throw new Http2ConnectionException(Http2ErrorCode.CompressionError, "HPACK: " + e.Message);
        }

        Http2Stream? opened = null;
        lock (StateLock)
        {
            if (_streams.TryGetValue(streamId, out var stream))
            {
                if (stream.RemoteEnded)
                    throw new Http2StreamException(streamId, Http2ErrorCode.StreamClosed, "HEADERS after END_STREAM");
                var isTrailers = stream.Headers is not null;
                if (isTrailers && !endStream)
                    throw new Http2StreamException(streamId, Http2ErrorCode.ProtocolError, "trailers without END_STREAM");
                if (collector.Error is { } error)
                    throw new Http2StreamException(streamId, Http2ErrorCode.ProtocolError, error);
                stream.OnHeadersLocked(collector.Fields, endStream);
                QueueWake(stream);
                if (endStream)
                    TryCompleteLocked(stream);
                return;
            }

            if (!IsServer || (streamId & 1) == 0)
            {
                if (!IsIdleStream(streamId))
                    return; // Trailers or headers of a stream we already reset: decoded for HPACK's sake, dropped.
                throw new Http2ConnectionException(Http2ErrorCode.ProtocolError, $"HEADERS opening stream {streamId}, which the peer may not open");
            }
            if (streamId <= _lastRemoteStreamId)
                return; // A stream we closed; the peer's frames were in flight.
            _lastRemoteStreamId = streamId;
            if (_goAwaySent)
            {
                AppendRstStreamLocked(streamId, Http2ErrorCode.RefusedStream);
                return;
            }
            if (collector.Error is { } malformed && !collector.TooLarge)
            {
                // RFC 9113 8.1.1: a malformed request is a stream error.
                throw new Http2StreamException(streamId, Http2ErrorCode.ProtocolError, malformed);
            }
            if (_activeRemote >= _options.MaxConcurrentStreams)
                throw new Http2StreamException(streamId, Http2ErrorCode.RefusedStream, $"more than {_options.MaxConcurrentStreams} concurrent streams");

            var cost = HeaderListCost(collector.Fields);
            if (!TryChargeLocked(cost))
                throw new Http2StreamException(streamId, Http2ErrorCode.RefusedStream, "memory budget exhausted: stream refused");
            opened = new Http2Stream(this, streamId, _peerInitialWindowSize, _options.StreamWindowSize, awaitHeaders: false);
            opened.HeaderCharge = cost;
            _streams.Add(streamId, opened);
            _activeRemote++;
            opened.HeaderListTooLarge = collector.TooLarge;
            opened.OnHeadersLocked(collector.Fields, endStream);
        }
        // Handed to the server at the end of the batch, with whatever DATA came in the same read.
        _requestsToDispatch.Add(opened);
    }

    private void OnPriority(int streamId, ReadOnlySpan<byte> payload)
    {
        if (streamId == 0)
            throw new Http2ConnectionException(Http2ErrorCode.ProtocolError, "PRIORITY on stream 0");
        if (payload.Length != 5)
            throw new Http2StreamException(streamId, Http2ErrorCode.FrameSizeError, "PRIORITY frame must be 5 bytes");
        // Priorities are advisory and deprecated (RFC 9113 5.3.2): ignored.
    }

    private void OnRstStream(int streamId, ReadOnlySpan<byte> payload)
    {
        if (streamId == 0)
            throw new Http2ConnectionException(Http2ErrorCode.ProtocolError, "RST_STREAM on stream 0");
        if (payload.Length != 4)
            throw new Http2ConnectionException(Http2ErrorCode.FrameSizeError, "RST_STREAM frame must be 4 bytes");
        var code = (Http2ErrorCode)BinaryPrimitives.ReadUInt32BigEndian(payload);
        Http2Stream? stream;
        lock (StateLock)
        {
            if (!_streams.TryGetValue(streamId, out stream))
            {
                if (IsIdleStream(streamId))
                    throw new Http2ConnectionException(Http2ErrorCode.ProtocolError, $"RST_STREAM on idle stream {streamId}");
                return;
            }
            if (!IsServer && code == Http2ErrorCode.NoError && stream.RemoteEnded)
            {
                // RFC 9113 8.1: the server completed its response and stops a request it no longer needs.
                // What it sent stays readable; only our side is cut short. A server never reads a reset that way:
                // a client's reset, whatever its code, cancels the call (else the handler would run on, unseen).
                stream.LocalEnded = true;
                stream.SignalWritable();
                RemoveLocked(stream);
                return;
            }
            AbortStreamLocked(stream, code, "reset by peer", connectionLost: false, refused: code == Http2ErrorCode.RefusedStream);
        }
        stream.FireAborted();
        if (IsServer)
            CountReset();
    }

    /// <summary>
    /// Rapid reset (CVE-2023-44487): opening a stream and resetting it at once costs the peer two small frames and
    /// us a dispatched handler. Streams cut short, by the peer or for its errors, are counted per interval; past
    /// the limit the connection is closed with ENHANCE_YOUR_CALM, as grpc-go and Kestrel do.
    /// </summary>
    private void CountReset()
    {
        if (_options.MaxResetsPerInterval <= 0)
            return;
        var now = Environment.TickCount64;
        if (now - _resetWindowStart >= ToMilliseconds(_options.ResetInterval))
        {
            _resetWindowStart = now;
            _resetsInWindow = 0;
        }
        if (++_resetsInWindow > _options.MaxResetsPerInterval)
            throw new Http2ConnectionException(Http2ErrorCode.EnhanceYourCalm, $"more than {_options.MaxResetsPerInterval} streams reset within {_options.ResetInterval}");
    }

    private void OnSettings(FrameFlags flags, int streamId, ReadOnlySpan<byte> payload)
    {
        if (streamId != 0)
            throw new Http2ConnectionException(Http2ErrorCode.ProtocolError, "SETTINGS on a stream");
        if ((flags & FrameFlags.Ack) != 0)
        {
            if (payload.Length != 0)
                throw new Http2ConnectionException(Http2ErrorCode.FrameSizeError, "SETTINGS ACK with a payload");
            return;
        }
        if (payload.Length % 6 != 0)
            throw new Http2ConnectionException(Http2ErrorCode.FrameSizeError, "SETTINGS payload not a multiple of 6");

        lock (StateLock)
        {
            for (var i = 0; i < payload.Length; i += 6)
            {
                var id = (SettingId)BinaryPrimitives.ReadUInt16BigEndian(payload[i..]);
                var value = BinaryPrimitives.ReadUInt32BigEndian(payload[(i + 2)..]);
                switch (id)
                {
                    case SettingId.HeaderTableSize:
                        _encoder.SetPeerMaxTableSize((int)Math.Min(value, int.MaxValue));
                        break;
                    case SettingId.EnablePush:
                        if (value > 1)
                            throw new Http2ConnectionException(Http2ErrorCode.ProtocolError, $"SETTINGS_ENABLE_PUSH must be 0 or 1 (got {value})");
                        break;
                    case SettingId.MaxConcurrentStreams:
                        _peerMaxConcurrentStreams = (int)Math.Min(value, int.MaxValue);
                        WakeStreamSlotWaitersLocked();
                        break;
                    case SettingId.InitialWindowSize:
                        if (value > Http2Limits.MaxWindowSize)
                            throw new Http2ConnectionException(Http2ErrorCode.FlowControlError, $"SETTINGS_INITIAL_WINDOW_SIZE {value} exceeds 2^31-1");
                        var delta = (int)value - _peerInitialWindowSize;
                        _peerInitialWindowSize = (int)value;
                        // RFC 9113 6.9.2: the change applies to every open stream, and may make a window negative.
                        foreach (var s in _streams.Values)
                        {
                            s.SendWindow += delta;
                            if (s.SendWindow > Http2Limits.MaxWindowSize)
                                throw new Http2ConnectionException(Http2ErrorCode.FlowControlError, $"stream {s.Id} window overflows");
                            s.SignalWritable();
                        }
                        break;
                    case SettingId.MaxFrameSize:
                        if (value < 16384 || value > 16777215)
                            throw new Http2ConnectionException(Http2ErrorCode.ProtocolError, $"SETTINGS_MAX_FRAME_SIZE {value} out of range");
                        // We keep sending frames of at most 16384 bytes whatever the peer allows.
                        break;
                    default:
                        break; // MAX_HEADER_LIST_SIZE is advisory; unknown settings are ignored.
                }
            }
            AppendFrameLocked(FrameType.Settings, FrameFlags.Ack, 0, default);
            _responseFramesQueued++;
        }
    }

    private void OnPing(FrameFlags flags, int streamId, ReadOnlySpan<byte> payload)
    {
        if (streamId != 0)
            throw new Http2ConnectionException(Http2ErrorCode.ProtocolError, "PING on a stream");
        if (payload.Length != 8)
            throw new Http2ConnectionException(Http2ErrorCode.FrameSizeError, "PING frame must be 8 bytes");
        if ((flags & FrameFlags.Ack) != 0)
            return;
        lock (StateLock)
        {
            AppendFrameLocked(FrameType.Ping, FrameFlags.Ack, 0, payload);
            _responseFramesQueued++;
        }
    }

    private void OnGoAway(int streamId, ReadOnlySpan<byte> payload)
    {
        if (streamId != 0)
            throw new Http2ConnectionException(Http2ErrorCode.ProtocolError, "GOAWAY on a stream");
        if (payload.Length < 8)
            throw new Http2ConnectionException(Http2ErrorCode.FrameSizeError, "GOAWAY shorter than 8 bytes");
        var lastStreamId = (int)(BinaryPrimitives.ReadUInt32BigEndian(payload) & 0x7fffffff);
        var code = (Http2ErrorCode)BinaryPrimitives.ReadUInt32BigEndian(payload[4..]);
        var debug = System.Text.Encoding.UTF8.GetString(payload[8..]);
        List<Http2Stream>? refused = null;
        bool closeNow;
        lock (StateLock)
        {
            _goAwayReceived = true;
            _goAwayReceivedLastStreamId = Math.Min(_goAwayReceivedLastStreamId, lastStreamId);
            foreach (var s in _streams.Values)
            {
                if (s.IsLocal && s.Id > lastStreamId)
                    (refused ??= []).Add(s);
            }
            if (refused is not null)
            {
                foreach (var s in refused)
                    AbortStreamLocked(s, Http2ErrorCode.RefusedStream, $"peer sent GOAWAY ({code}) {debug}".TrimEnd(), connectionLost: false, refused: true);
            }
            WakeStreamSlotWaitersLocked();
            closeNow = _streams.Count == 0;
        }
        if (refused is not null)
        {
            foreach (var s in refused)
                s.FireAborted();
        }
        if (code != Http2ErrorCode.NoError)
            _log?.LogDebug("peer sent GOAWAY {Code}: {Debug}", code, debug);
        if (closeNow)
            throw new EndOfStreamException();
    }

    private void OnWindowUpdate(int streamId, ReadOnlySpan<byte> payload)
    {
        if (payload.Length != 4)
            throw new Http2ConnectionException(Http2ErrorCode.FrameSizeError, "WINDOW_UPDATE frame must be 4 bytes");
        var increment = (int)(BinaryPrimitives.ReadUInt32BigEndian(payload) & 0x7fffffff);
        lock (StateLock)
        {
            if (streamId == 0)
            {
                if (increment == 0)
                    throw new Http2ConnectionException(Http2ErrorCode.ProtocolError, "WINDOW_UPDATE with increment 0");
                _connectionSendWindow += increment;
                if (_connectionSendWindow > Http2Limits.MaxWindowSize)
                    throw new Http2ConnectionException(Http2ErrorCode.FlowControlError, "connection window overflows 2^31-1");
                foreach (var waiter in _connectionWindowWaiters)
                    waiter.SignalWritable();
                _connectionWindowWaiters.Clear();
                return;
            }
            if (!_streams.TryGetValue(streamId, out var stream))
            {
                if (IsIdleStream(streamId))
                    throw new Http2ConnectionException(Http2ErrorCode.ProtocolError, $"WINDOW_UPDATE on idle stream {streamId}");
                return;
            }
            if (increment == 0)
                throw new Http2StreamException(streamId, Http2ErrorCode.ProtocolError, "WINDOW_UPDATE with increment 0");
            stream.SendWindow += increment;
            if (stream.SendWindow > Http2Limits.MaxWindowSize)
                throw new Http2StreamException(streamId, Http2ErrorCode.FlowControlError, "stream window overflows 2^31-1");
            stream.SignalWritable();
        }
    }

    private void QueueWake(Http2Stream stream)
    {
        if (stream.WakeQueued)
            return;
        stream.WakeQueued = true;
        _streamsToWake.Add(stream);
    }

    /// <summary>Wakes the readers of streams that received something and hands new requests over, once per batch.</summary>
    private void EndBatch()
    {
        if (_streamsToWake.Count > 0)
        {
            // By index: a reader that goes on here (Http2Stream.ReaderContinuesOnReadLoop) runs its call's code
            // before the next stream is woken.
            for (var i = 0; i < _streamsToWake.Count; i++)
                _streamsToWake[i].Wake();
            _streamsToWake.Clear();
        }
        if (_requestsToDispatch.Count > 0)
        {
            foreach (var s in _requestsToDispatch)
                _onRequest!(s);
            _requestsToDispatch.Clear();
        }
    }
}
