using MetaGpu.Rpc.Hpack;

namespace MetaGpu.Rpc.Http2;

/// <summary>
/// Collects a decoded header block and checks what RFC 9113 8.2 requires of every field list: lowercase names,
/// pseudo-headers first, no connection-specific fields, no CR/LF/NUL in values, and the header list size limit.
/// Decoding always runs to the end of the block, so the HPACK table stays in step even when the list is refused.
/// </summary>
internal sealed class HeaderCollector(int maxHeaderListSize, HeaderStrings? seen = null) : IHpackHeaderSink
{
    private int _size;
    private bool _regularSeen;

    public List<HeaderField> Fields { get; } = new(8);

    /// <summary>Why the list is malformed or refused; null when it is acceptable.</summary>
    public string? Error { get; private set; }

    public bool TooLarge { get; private set; }

    public void OnHeader(ReadOnlySpan<byte> name, ReadOnlySpan<byte> value)
    {
        _size += name.Length + value.Length + 32;
        if (_size > maxHeaderListSize)
        {
            if (!TooLarge)
            {
                TooLarge = true;
                Error ??= $"header list exceeds SETTINGS_MAX_HEADER_LIST_SIZE of {maxHeaderListSize} bytes";
            }
            return;
        }
        if (Error is not null)
            return;

        if (name.IsEmpty)
        {
            Error = "empty header name";
            return;
        }
        var pseudo = name[0] == (byte)':';
        if (pseudo && _regularSeen)
        {
            Error = "pseudo-header after a regular header";
            return;
        }
        if (!pseudo)
            _regularSeen = true;
        foreach (var b in name[(pseudo ? 1 : 0)..])
        {
            // RFC 9110 token characters, lowercase only (RFC 9113 8.2.1).
            if (b is >= (byte)'A' and <= (byte)'Z' || b <= 0x20 || b >= 0x7f || b == (byte)':')
            {
                Error = "invalid character in header name";
                return;
            }
        }
        if (value.IndexOfAny((byte)0, (byte)'\r', (byte)'\n') >= 0)
        {
            Error = "CR, LF or NUL in a header value";
            return;
        }
        if (!pseudo && IsConnectionSpecific(name, value))
        {
            Error = "connection-specific header field";
            return;
        }
        var fieldName = HeaderField.DecodeName(name, seen);
        // A deadline's value changes from call to call: kept, it would only push out the values that repeat.
        Fields.Add(new HeaderField(fieldName, HeaderField.DecodeValue(value, fieldName == "grpc-timeout" ? null : seen)));
    }

    private static bool IsConnectionSpecific(ReadOnlySpan<byte> name, ReadOnlySpan<byte> value) =>
        name.SequenceEqual("connection"u8) || name.SequenceEqual("keep-alive"u8) || name.SequenceEqual("proxy-connection"u8)
        || name.SequenceEqual("transfer-encoding"u8) || name.SequenceEqual("upgrade"u8)
        || (name.SequenceEqual("te"u8) && !value.SequenceEqual("trailers"u8));
}
