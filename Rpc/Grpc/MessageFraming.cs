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

/// <summary>Reads length-prefixed gRPC messages from a stream into a pooled buffer and hands them to a marshaller.</summary>
internal sealed class MessageReader : DeserializationContext, IDisposable
{
    private readonly byte[] _prefix = new byte[GrpcProtocol.MessagePrefixLength];
    private byte[] _payload = [];
    private int _length;

    public override int PayloadLength => _length;

    public override byte[] PayloadAsNewBuffer() => _payload.AsSpan(0, _length).ToArray();

    public override ReadOnlySequence<byte> PayloadAsReadOnlySequence() => new(_payload, 0, _length);

    /// <summary>Reads the next message; false at the clean end of the stream. Status problems surface as RpcException.</summary>
    public async ValueTask<(bool Read, T Message)> ReadAsync<T>(Http2Stream stream, Marshaller<T> marshaller, int maxSize, CancellationToken cancellationToken)
    {
        if (!await stream.ReadExactlyAsync(_prefix, cancellationToken).ConfigureAwait(false))
            return (false, default!);
        if (_prefix[0] != 0)
        {
            throw new RpcException(new Status(StatusCode.Internal,
                _prefix[0] == 1 ? "compressed message received, but no grpc-encoding was negotiated" : $"invalid message flag {_prefix[0]}"));
        }
        var length = BinaryPrimitives.ReadUInt32BigEndian(_prefix.AsSpan(1));
        if (length > (uint)maxSize)
            throw new RpcException(new Status(StatusCode.ResourceExhausted, $"received message of {length} bytes exceeds the limit of {maxSize} bytes"));
        _length = (int)length;
        if (_payload.Length < _length)
        {
            ReturnPayload();
            _payload = ArrayPool<byte>.Shared.Rent(Math.Max(_length, 256));
        }
        if (_length > 0 && !await stream.ReadExactlyAsync(_payload.AsMemory(0, _length), cancellationToken).ConfigureAwait(false))
            throw new RpcException(new Status(StatusCode.Internal, "stream ended in the middle of a message"));
        T message;
        try
        {
            message = marshaller.ContextualDeserializer(this);
        }
        catch (Exception e) when (e is not RpcException)
        {
            throw new RpcException(new Status(StatusCode.Internal, "failed to deserialize message: " + e.Message));
        }
        if (_payload.Length > 64 * 1024)
            ReturnPayload(); // keep big buffers only while they are in use
        return (true, message);
    }

    private void ReturnPayload()
    {
        if (_payload.Length > 0)
            ArrayPool<byte>.Shared.Return(_payload);
        _payload = [];
    }

    public void Dispose() => ReturnPayload();
}
