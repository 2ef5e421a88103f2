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
    /// This connection's share of <see cref="MemoryBudget"/>: request bytes not yet read by a handler, messages
    /// being assembled and the header lists of its open streams. Past half of it the connection window is no longer
    /// replenished; work past all of it is refused. Must exceed the largest message a handler accepts.
    /// </summary>
    public int MaxBufferedBytes { get; set; } = 6 * 1024 * 1024;

    /// <summary>The budget shared with every other connection of the process (default <see cref="MemoryBudget.Shared"/>).</summary>
    public MemoryBudget MemoryBudget { get; set; } = MemoryBudget.Shared;

    /// <summary>
    /// A connection with no open stream for this long is closed with GOAWAY(NO_ERROR); a connection with an open
    /// stream, however silent, never is. <see cref="Timeout.InfiniteTimeSpan"/> turns it off. Enforced by
    /// <see cref="Http2Connection.Sweep"/>.
    /// </summary>
    public TimeSpan IdleTimeout { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// Once a stream's reader has started on a message (see <see cref="Http2Stream.BeginAssembly"/>), the rest of it must
    /// arrive within this time, or the stream is reset (CANCEL) and its memory freed. A stream idle between messages
    /// is never timed. <see cref="Timeout.InfiniteTimeSpan"/> turns it off.
    /// </summary>
    public TimeSpan MessageAssemblyTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Rapid reset (CVE-2023-44487): streams the peer resets before they complete, or that we reset for its
    /// errors, counted per <see cref="ResetInterval"/>. Past the limit the connection gets GOAWAY(ENHANCE_YOUR_CALM).
    /// </summary>
    public int MaxResetsPerInterval { get; set; } = 200;

    public TimeSpan ResetInterval { get; set; } = TimeSpan.FromSeconds(1);

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

    /// <summary>
    /// While more answers than this (PING and SETTINGS ACKs, RST_STREAM) wait to be sent, the read loop stops
    /// reading (grpc-go does the same with 50): a peer that sends PINGs but never reads the ACKs stalls itself, not our memory.
    /// </summary>
    internal const int MaxQueuedResponseFrames = 64;
}
