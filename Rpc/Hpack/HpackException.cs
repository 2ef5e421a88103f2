namespace MetaGpu.Rpc.Hpack;

/// <summary>
/// Thrown for any malformed header block. The HTTP/2 layer turns it into a connection error
/// of type COMPRESSION_ERROR: once a block fails, the dynamic tables of both ends can no longer
/// be trusted to agree, so the connection cannot continue.
/// </summary>
public sealed class HpackException : Exception
{
    public HpackException(string message)
        : base(message)
    {
    }
}
