namespace MetaGpu.Rpc.Hpack;

/// <summary>
/// Receives decoded header fields. A callback (rather than a returned list) lets the decoder hand
/// out spans over the block, the dynamic table or its scratch buffer without allocating per field.
/// </summary>
public interface IHpackHeaderSink
{
    /// <summary>Called once per field, in block order. The spans are only valid during the call.</summary>
    /// <remarks>
    /// Do not throw to reject a header list (too large, malformed for HTTP): the rest of the block
    /// must still be decoded or the dynamic table falls out of step with the peer's (RFC 9113 4.3).
    /// Record the problem and act on it once <see cref="HpackDecoder.Decode"/> returns.
    /// </remarks>
    void OnHeader(ReadOnlySpan<byte> name, ReadOnlySpan<byte> value);
}
