namespace MetaGpu.Rpc.Http2;

/// <summary>What one side of a connection advertises and enforces.</summary>
public sealed class Http2ConnectionOptions
{
    /// <summary>SETTINGS_MAX_CONCURRENT_STREAMS we advertise; streams past it are refused with REFUSED_STREAM.</summary>
    public int MaxConcurrentStreams { get; set; } = 100;

    /// <summary>SETTINGS_INITIAL_WINDOW_SIZE we advertise: how much one stream may send before its reader catches up.</summary>
    public int StreamWindowSize { get; set; } = 1024 * 1024;

    /// <summary>Connection-level receive window we grant (RFC 9113 6.9.2: starts at 65535, raised with WINDOW_UPDATE).</summary>
    public int ConnectionWindowSize { get; set; } = 4 * 1024 * 1024;

    /// <summary>
    /// Upper bound on bytes received but not yet read, over all streams. Past it the connection window is no
    /// longer replenished, so a peer cannot make us buffer without limit by opening many slow streams.
    /// </summary>
    public int MaxBufferedBytes { get; set; } = 16 * 1024 * 1024;

    /// <summary>SETTINGS_MAX_HEADER_LIST_SIZE we advertise and enforce.</summary>
    public int MaxHeaderListSize { get; set; } = 64 * 1024;

    /// <summary>SETTINGS_HEADER_TABLE_SIZE: the HPACK dynamic table the peer may use towards us.</summary>
    public int HeaderTableSize { get; set; } = 4096;

    /// <summary>Time allowed for the peer's preface and first SETTINGS; after that the connection may idle forever.</summary>
    public TimeSpan HandshakeTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Largest header block (HEADERS + CONTINUATION) we buffer before calling it a flood.</summary>
    internal int MaxHeaderBlockSize => Math.Max(MaxHeaderListSize * 2, 32 * 1024);

    /// <summary>Largest number of frames queued for sending, in bytes, before a peer that never reads is cut off.</summary>
    internal int MaxPendingOutput => ConnectionWindowSize + 8 * 1024 * 1024;
}
