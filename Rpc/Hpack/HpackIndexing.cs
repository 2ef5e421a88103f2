namespace MetaGpu.Rpc.Hpack;

/// <summary>How the encoder may use the dynamic table for one field (RFC 7541 6.2).</summary>
public enum HpackIndexing
{
    /// <summary>Add the field to the dynamic table so later blocks can refer to it by index.</summary>
    Incremental,

    /// <summary>Send as a literal and leave the dynamic table alone (values that rarely repeat).</summary>
    WithoutIndexing,

    /// <summary>
    /// Always a literal, and intermediaries must keep it that way: for secrets, whose presence in a
    /// compression context could be probed (RFC 7541 7.1).
    /// </summary>
    NeverIndexed,
}
