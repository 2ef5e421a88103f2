using System.Buffers.Binary;
using System.Net.Sockets;
using MetaGpu.Rpc.Hpack;

namespace MetaGpu.Rpc.Http2;

/// <summary>Frames out: appended under the lock, sent by whichever writer finds no flush running.</summary>
public sealed partial class Http2Connection
{

    private bool ScheduleFlushLocked()
    {
        if (_flushing || _closed || _pending.WrittenCount == 0)
            return false;
        _flushing = true;
        return true;
    }

    private void FlushInBackground()
    {
        bool start;
        lock (StateLock)
        {
            start = ScheduleFlushLocked();
            if (!start && _pending.WrittenCount > _options.MaxPendingOutput)
                throw new Http2ConnectionException(Http2ErrorCode.EnhanceYourCalm, "peer does not read what it asks for");
        }
        if (start)
            _ = FlushLoopAsync();
    }

    /// <summary>Sends pending frames until none are left. Only one runs at a time (<see cref="_flushing"/>).</summary>
    internal async ValueTask FlushLoopAsync()
    {
        try
        {
            while (true)
            {
                TaskCompletionSource? progress;
                bool done;
                lock (StateLock)
                {
                    // Whoever waits for room (the read loop, a writer) is told once what was queued has left.
                    progress = _flushProgress;
                    _flushProgress = null;
                    done = _closed || _pending.WrittenCount == 0;
                    if (done)
                    {
                        _flushing = false;
                        if (_closed)
                        {
                            _pending.Dispose();
                            _sending.Dispose();
                        }
                    }
                    else
                    {
                        (_pending, _sending) = (_sending, _pending);
                        _sendingCount = _sending.WrittenCount;
                        _responseFramesSending = _responseFramesQueued;
                        _responseFramesQueued = 0;
                    }
                }
                if (done)
                {
                    progress?.TrySetResult();
                    return;
                }
                if (_sending.ChunkCount == 1)
                {
                    var remaining = _sending.Chunk(0);
                    while (!remaining.IsEmpty)
                    {
                        var n = await _socket.SendAsync(remaining, SocketFlags.None).ConfigureAwait(false);
                        remaining = remaining[n..];
                    }
                }
                else
                {
                    await SendChunksAsync().ConfigureAwait(false);
                }
                lock (StateLock)
                {
                    // An idle connection keeps no output chunk: a thousand of them would hold 16 MiB for nothing.
                    _sending.Reset();
                    _sendingCount = 0;
                    _responseFramesSending = 0;
                }
                progress?.TrySetResult();
            }
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException or IOException)
        {
            lock (StateLock)
                _flushing = false;
            Abort("send failed: " + e.Message);
        }
    }

    /// <summary>The chunks of <see cref="_sending"/> as one gathered send (sendmsg), reused from flush to flush.</summary>
    private readonly List<ArraySegment<byte>> _gather = [];

    /// <summary>
    /// Sends every chunk of <see cref="_sending"/> with one system call where the socket takes it all: a 23 KB
    /// GetPreferredAllocation answer spans two chunks, which went out in two sendto calls (strace), each a wake-up the
    /// peer may take on its own.
    /// </summary>
    private async ValueTask SendChunksAsync()
    {
        _gather.Clear();
        for (var i = 0; i < _sending.ChunkCount; i++)
        {
            var segment = _sending.Segment(i);
            if (segment.Count > 0)
                _gather.Add(segment);
        }
        try
        {
            while (_gather.Count > 0)
            {
                var n = await _socket.SendAsync(_gather, SocketFlags.None).ConfigureAwait(false);
                // The runtime sends a stream socket's buffers whole before it completes; should a send ever report
                // less, what is left goes again, in order.
                while (n > 0 && _gather.Count > 0)
                {
                    var first = _gather[0];
                    if (n >= first.Count)
                    {
                        n -= first.Count;
                        _gather.RemoveAt(0);
                    }
                    else
                    {
                        _gather[0] = first.Slice(n);
                        n = 0;
                    }
                }
            }
        }
        finally
        {
            _gather.Clear();
        }
    }

    private void AppendFrameHeaderLocked(int length, FrameType type, FrameFlags flags, int streamId)
    {
        var span = _pending.GetSpan(Http2Limits.FrameHeaderLength);
        span[0] = (byte)(length >> 16);
        span[1] = (byte)(length >> 8);
        span[2] = (byte)length;
        span[3] = (byte)type;
        span[4] = (byte)flags;
        BinaryPrimitives.WriteUInt32BigEndian(span[5..], (uint)streamId);
        _pending.Advance(Http2Limits.FrameHeaderLength);
    }

    private void AppendFrameLocked(FrameType type, FrameFlags flags, int streamId, ReadOnlySpan<byte> payload)
    {
        AppendFrameHeaderLocked(payload.Length, type, flags, streamId);
        _pending.Write(payload);
    }

    private void AppendWindowUpdateLocked(int streamId, int increment)
    {
        Span<byte> payload = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(payload, (uint)increment);
        AppendFrameLocked(FrameType.WindowUpdate, FrameFlags.None, streamId, payload);
    }

    private void AppendRstStreamLocked(int streamId, Http2ErrorCode code)
    {
        Span<byte> payload = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(payload, (uint)code);
        AppendFrameLocked(FrameType.RstStream, FrameFlags.None, streamId, payload);
    }

    private void AppendGoAwayLocked(int lastStreamId, Http2ErrorCode code, string debug)
    {
        var debugBytes = System.Text.Encoding.UTF8.GetBytes(debug);
        AppendFrameHeaderLocked(8 + debugBytes.Length, FrameType.GoAway, FrameFlags.None, 0);
        var span = _pending.GetSpan(8);
        BinaryPrimitives.WriteUInt32BigEndian(span, (uint)lastStreamId);
        BinaryPrimitives.WriteUInt32BigEndian(span[4..], (uint)code);
        _pending.Advance(8);
        _pending.Write(debugBytes);
    }

    /// <summary>Encodes a header block and splits it into HEADERS + CONTINUATION frames of at most 16384 bytes.</summary>
    private void AppendHeadersLocked(int streamId, IReadOnlyList<HeaderField> headers, bool endStream)
    {
        _headerScratch.Reset();
        _encoder.BeginBlock(_headerScratch);
        for (var i = 0; i < headers.Count; i++)
        {
            var h = headers[i];
            _encoder.Encode(_headerScratch, h.Name, h.Value, ChooseIndexing(h));
        }
        var block = _headerScratch.WrittenSpan;
        var first = true;
        do
        {
            var n = Math.Min(block.Length, Http2Limits.MaxFrameSize);
            var last = n == block.Length;
            var flags = last ? FrameFlags.EndHeaders : FrameFlags.None;
            if (first && endStream)
                flags |= FrameFlags.EndStream;
            AppendFrameLocked(first ? FrameType.Headers : FrameType.Continuation, flags, streamId, block[..n]);
            block = block[n..];
            first = false;
        }
        while (!block.IsEmpty);
    }

    /// <summary>Fields that repeat from call to call go in the dynamic table; one-off values would only evict them.</summary>
    private static HpackIndexing ChooseIndexing(HeaderField h)
    {
        if (h.Name is "grpc-timeout" or "grpc-message" or "grpc-status-details-bin" or "content-length")
            return HpackIndexing.WithoutIndexing;
        if (h.Name.Length + h.Value.Length > 512)
            return HpackIndexing.WithoutIndexing;
        return HpackIndexing.Incremental;
    }
}
