using System.Buffers.Binary;
using System.Text;

namespace MetaGpu.Fuzz;

/// <summary>
/// What a fuzz client needs of HTTP/2 framing: building the few frames it sends, and reading the server's frames
/// back (RFC 9113 4.1). Written apart from the product's frame code on purpose, so a bug there is not mirrored here.
/// </summary>
internal static class WireFrames
{
    public const byte Data = 0x0, Headers = 0x1, RstStream = 0x3, Settings = 0x4, Ping = 0x6, GoAway = 0x7;
    public const byte EndStream = 0x1, Ack = 0x1, EndHeaders = 0x4;
    public const uint InternalError = 0x2;

    public static ReadOnlySpan<byte> Preface => "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"u8;

    public static void Write(Stream to, byte type, byte flags, int streamId, ReadOnlySpan<byte> payload)
    {
        Span<byte> header = stackalloc byte[9];
        header[0] = (byte)(payload.Length >> 16);
        header[1] = (byte)(payload.Length >> 8);
        header[2] = (byte)payload.Length;
        header[3] = type;
        header[4] = flags;
        BinaryPrimitives.WriteInt32BigEndian(header[5..], streamId);
        to.Write(header);
        to.Write(payload);
    }

    /// <summary>An HPACK block of literal fields without indexing (RFC 7541 6.2.2); names and values under 127 bytes.</summary>
    public static byte[] LiteralHeaderBlock(params (string Name, string Value)[] fields)
    {
        var block = new MemoryStream();
        foreach (var (name, value) in fields)
        {
            block.WriteByte(0);
            block.WriteByte((byte)name.Length);
            block.Write(Encoding.ASCII.GetBytes(name));
            block.WriteByte((byte)value.Length);
            block.Write(Encoding.ASCII.GetBytes(value));
        }
        return block.ToArray();
    }

    /// <summary>One frame read back; the payload is only valid until the next read.</summary>
    public readonly ref struct Frame(byte type, byte flags, int streamId, ReadOnlySpan<byte> payload)
    {
        public byte Type { get; } = type;
        public byte Flags { get; } = flags;
        public int StreamId { get; } = streamId;
        public ReadOnlySpan<byte> Payload { get; } = payload;

        /// <summary>The error code of a RST_STREAM or GOAWAY frame.</summary>
        public uint ErrorCode => Type switch
        {
            RstStream when Payload.Length >= 4 => BinaryPrimitives.ReadUInt32BigEndian(Payload),
            GoAway when Payload.Length >= 8 => BinaryPrimitives.ReadUInt32BigEndian(Payload[4..]),
            _ => 0,
        };

        public string GoAwayDebug => Type == GoAway && Payload.Length > 8 ? Encoding.UTF8.GetString(Payload[8..]) : "";
    }

    /// <summary>
    /// A server that answers hostile input with INTERNAL_ERROR has hit a bug of its own (an exception it did not
    /// expect): the fuzz finding. Anything else (PROTOCOL_ERROR, a gRPC status) is a correct refusal.
    /// </summary>
    public static void ThrowIfInternalError(in Frame frame)
    {
        if (frame.Type == GoAway && frame.ErrorCode == InternalError)
            throw new FuzzFinding("server sent GOAWAY INTERNAL_ERROR: " + frame.GoAwayDebug);
        if (frame.Type == RstStream && frame.ErrorCode == InternalError)
            throw new FuzzFinding($"server reset stream {frame.StreamId} with INTERNAL_ERROR");
    }
}
