using System.Text;

namespace MetaGpu.Rpc.Http2;

/// <summary>One header field. Values are Latin-1 strings: every octet maps to one char and back.</summary>
public readonly record struct HeaderField(string Name, string Value)
{
    /// <summary>RFC 9113 6.5.2 size: name + value + 32.</summary>
    public int Size => Name.Length + Value.Length + 32;

    internal static string DecodeName(ReadOnlySpan<byte> name, HeaderStrings? seen = null) =>
        KnownName(name) ?? seen?.Get(name) ?? Encoding.Latin1.GetString(name);

    internal static string DecodeValue(ReadOnlySpan<byte> value, HeaderStrings? seen = null) =>
        KnownValue(value) ?? seen?.Get(value) ?? Encoding.Latin1.GetString(value);

    // The names and values of every gRPC call: returning the literal keeps the hot path free of string allocations.
    private static string? KnownName(ReadOnlySpan<byte> s) => s.Length switch
    {
        2 when s.SequenceEqual("te"u8) => "te",
        5 when s.SequenceEqual(":path"u8) => ":path",
        7 when s.SequenceEqual(":method"u8) => ":method",
        7 when s.SequenceEqual(":scheme"u8) => ":scheme",
        7 when s.SequenceEqual(":status"u8) => ":status",
        10 when s.SequenceEqual(":authority"u8) => ":authority",
        10 when s.SequenceEqual("user-agent"u8) => "user-agent",
        11 when s.SequenceEqual("grpc-status"u8) => "grpc-status",
        12 when s.SequenceEqual("content-type"u8) => "content-type",
        12 when s.SequenceEqual("grpc-timeout"u8) => "grpc-timeout",
        12 when s.SequenceEqual("grpc-message"u8) => "grpc-message",
        13 when s.SequenceEqual("grpc-encoding"u8) => "grpc-encoding",
        20 when s.SequenceEqual("grpc-accept-encoding"u8) => "grpc-accept-encoding",
        _ => null,
    };

    private static string? KnownValue(ReadOnlySpan<byte> s) => s.Length switch
    {
        0 => "",
        1 when s[0] == (byte)'0' => "0",
        3 when s.SequenceEqual("200"u8) => "200",
        4 when s.SequenceEqual("POST"u8) => "POST",
        4 when s.SequenceEqual("http"u8) => "http",
        8 when s.SequenceEqual("trailers"u8) => "trailers",
        8 when s.SequenceEqual("identity"u8) => "identity",
        9 when s.SequenceEqual("localhost"u8) => "localhost",
        16 when s.SequenceEqual("application/grpc"u8) => "application/grpc",
        _ => null,
    };
}
