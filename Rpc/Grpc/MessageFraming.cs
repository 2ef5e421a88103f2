using System.Buffers;
using System.Buffers.Binary;
using Grpc.Core;
using MetaGpu.Rpc.Http2;

namespace MetaGpu.Rpc.Grpc;

/// <summary>
/// Serializes one message into a pooled buffer that already holds room for the 5-byte gRPC prefix, so the
/// prefix and payload go out as one DATA write. Google.Protobuf's generated marshallers write straight into
/// <see cref="GetBufferWriter"/>.
/// </summary>
internal sealed class MessageWriter : SerializationContext, IDisposable
{
    private readonly PooledBufferWriter _buffer = new(1024);

    public ReadOnlyMemory<byte> Serialize<T>(Marshaller<T> marshaller, T message, int maxSize)
    {
        _buffer.Reset();
        _buffer.GetSpan(GrpcProtocol.MessagePrefixLength);
        _buffer.Advance(GrpcProtocol.MessagePrefixLength);
        marshaller.ContextualSerializer(message, this);
        var length = _buffer.WrittenCount - GrpcProtocol.MessagePrefixLength;
        if (length > maxSize)
            throw new RpcException(new Status(StatusCode.ResourceExhausted, $"sending message of {length} bytes exceeds the limit of {maxSize} bytes"));
        var prefix = _buffer.WrittenSpanMutable;
        prefix[0] = 0;
        BinaryPrimitives.WriteUInt32BigEndian(prefix[1..], (uint)length);
        return _buffer.WrittenMemory;
    }

    public override void Complete(byte[] payload) => _buffer.Write(payload);

    public override IBufferWriter<byte> GetBufferWriter() => _buffer;

    public override void SetPayloadLength(int payloadLength)
    {
    }

    public override void Complete()
    {
    }

    public void Dispose() => _buffer.Dispose();
}

/// <summary>
/// Reads length-prefixed gRPC messages from a stream into a buffer and hands them to a marshaller. The buffer grows
/// as bytes arrive (a peer that announces 4 MiB and sends 5 bytes gets a small buffer), each step taken from the
/// memory budget; from a message's first byte to its last the stream's message-assembly timeout runs.
/// </summary>
internal sealed class MessageReader : DeserializationContext, IDisposable
{
    private const int KeepBetweenMessages = 64 * 1024;

    private readonly byte[] _prefix = new byte[GrpcProtocol.MessagePrefixLength];
    private byte[] _payload = [];
    private int _length;
    private Http2Stream? _chargedTo;
    // The buffer is charged to the connection's and the process's memory budget until it is given back: at the end of
    // the stream, after a failed read, or at Dispose (deferred to the end of a read in progress).
    private readonly Lock _gate = new();
    private bool _reading;
    private bool _disposed;

    public override int PayloadLength => _length;

    public override byte[] PayloadAsNewBuffer() => _payload.AsSpan(0, _length).ToArray();

    public override ReadOnlySequence<byte> PayloadAsReadOnlySequence() => new(_payload, 0, _length);

    /// <summary>Reads the next message; false at the clean end of the stream. Status problems surface as RpcException.</summary>
    /// <remarks>
    /// Not generic: every generic async method is a state machine, a task box and awaiters of its own for each message
    /// type in the native binary. The deserializer is a marshaller's, which converts to this type without a wrapper
    /// (delegate covariance); the caller casts the message.
    /// </remarks>
    public async ValueTask<(bool Read, object? Message)> ReadAsync(Http2Stream stream, Func<DeserializationContext, object> deserialize, int maxSize, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            if (_disposed)
                throw new RpcException(new Status(StatusCode.Cancelled, "the call is complete"));
            _reading = true;
        }
        var ended = false;
        try
        {
            var result = await ReadNextAsync(stream, deserialize, maxSize, cancellationToken).ConfigureAwait(false);
            ended = !result.Read;
            return result;
        }
        catch
        {
            ended = true; // a stream that failed is read no more
            throw;
        }
        finally
        {
            lock (_gate)
            {
                _reading = false;
                if (ended || _disposed)
                    ReturnPayload();
            }
        }
    }

    private async ValueTask<(bool Read, object? Message)> ReadNextAsync(Http2Stream stream, Func<DeserializationContext, object> deserialize, int maxSize, CancellationToken cancellationToken)
    {
        // The first byte may take hours (a stream idle between messages): no clock until it comes.
        if (await stream.ReadAsync(_prefix.AsMemory(0, 1), cancellationToken).ConfigureAwait(false) == 0)
            return (false, null);
        stream.BeginAssembly();
        try
        {
            if (!await stream.ReadExactlyAsync(_prefix.AsMemory(1), cancellationToken).ConfigureAwait(false))
                throw new RpcException(new Status(StatusCode.Internal, "stream ended in the middle of a message"));
            if (_prefix[0] != 0)
            {
                throw new RpcException(new Status(StatusCode.Internal,
                    _prefix[0] == 1 ? "compressed message received, but no grpc-encoding was negotiated" : $"invalid message flag {_prefix[0]}"));
            }
            var length = BinaryPrimitives.ReadUInt32BigEndian(_prefix.AsSpan(1));
            if (length > (uint)maxSize)
                throw new RpcException(new Status(StatusCode.ResourceExhausted, $"received message of {length} bytes exceeds the limit of {maxSize} bytes"));
            _length = (int)length;
            if (stream.LeavesReadLoopFor(length))
                await Task.Yield(); // over the inline method's request size: read and handled on the pool
            await ReadPayloadAsync(stream, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            stream.EndAssembly();
        }
        object message;
        try
        {
            message = deserialize(this);
        }
        catch (Exception e) when (e is not RpcException)
        {
            throw new RpcException(new Status(StatusCode.Internal, "failed to deserialize message: " + e.Message));
        }
        if (_payload.Length > KeepBetweenMessages)
            ReturnPayload(); // keep big buffers only while they are in use
        return (true, message);
    }

    private async ValueTask ReadPayloadAsync(Http2Stream stream, CancellationToken cancellationToken)
    {
        var filled = 0;
        while (filled < _length)
        {
            if (filled == _payload.Length || _payload.Length == 0)
                Grow(stream, filled);
            var n = await stream.ReadAsync(_payload.AsMemory(filled, Math.Min(_payload.Length, _length) - filled), cancellationToken).ConfigureAwait(false);
            if (n == 0)
                throw new RpcException(new Status(StatusCode.Internal, "stream ended in the middle of a message"));
            filled += n;
        }
    }

    /// <summary>Doubles the buffer (at least 16 KiB, at most the message), keeping the first <paramref name="filled"/> bytes.</summary>
    private void Grow(Http2Stream stream, int filled)
    {
        var size = (int)Math.Min(_length, Math.Max(Math.Max(_payload.Length * 2L, 16 * 1024), 256));
        if (size <= _payload.Length)
            return;
        var grown = WireBuffers.Rent(size);
        // Only the growth is taken: the old buffer's share passes to the new one, which replaces it at once.
        if (!stream.TryReserveMemory(grown.Length - _payload.Length))
        {
            WireBuffers.Return(grown);
            throw new RpcException(new Status(StatusCode.ResourceExhausted, "the memory budget for received messages is used up; retry later"));
        }
        _payload.AsSpan(0, filled).CopyTo(grown);
        if (_payload.Length > 0)
            WireBuffers.Return(_payload);
        _payload = grown;
        _chargedTo = stream;
    }

    private void ReturnPayload()
    {
        if (_payload.Length > 0)
        {
            _chargedTo?.ReleaseMemory(_payload.Length);
            WireBuffers.Return(_payload);
        }
        _payload = [];
    }

    /// <summary>Gives the buffer back now, or at the end of the read in progress.</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            _disposed = true;
            if (!_reading)
                ReturnPayload();
        }
    }
}
