namespace MetaGpu.Usage.Metrics;

/// <summary>The responder's bounds (docs/limits.md). Tests shorten the timeouts; the daemon uses the defaults.</summary>
internal sealed record MetricsServerLimits
{
    /// <summary>Connections open at once. Beyond it the one waiting longest for a request is closed to make room;
    /// only when every connection is busy answering is the new one closed at once.</summary>
    public int MaxConnections { get; init; } = 64;

    /// <summary>Request line and headers together; more is answered 431 and the connection closed.</summary>
    public int MaxRequestHead { get; init; } = 8 * 1024;

    /// <summary>From a connection's accept, or a request's first byte, to the end of its head (slowloris).</summary>
    public TimeSpan HeadTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>How long a kept-alive connection may wait for its next request.</summary>
    public TimeSpan IdleTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>How long one response may take to send (a client that does not read is dropped).</summary>
    public TimeSpan WriteTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>After an error response, how long (and how many bytes) the rest of the peer's input is read and
    /// dropped before closing, so that the close does not reset the connection before the peer reads the answer.</summary>
    public TimeSpan LingerTimeout { get; init; } = TimeSpan.FromSeconds(1);

    public int LingerBytes { get; init; } = 64 * 1024;

    /// <summary>Rendered-metrics buffers kept between scrapes (more concurrent scrapes use a fresh one).</summary>
    public int KeptBuffers { get; init; } = 2;
}
