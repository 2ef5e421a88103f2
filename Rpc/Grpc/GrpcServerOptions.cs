using Microsoft.Extensions.Logging;

namespace MetaGpu.Rpc.Grpc;

/// <summary>Limits and knobs of <see cref="GrpcServer"/>. Defaults suit a kubelet peer.</summary>
public sealed class GrpcServerOptions
{
    /// <summary>Largest request message accepted; larger ones fail the call with RESOURCE_EXHAUSTED.</summary>
    public int MaxReceiveMessageSize { get; set; } = 4 * 1024 * 1024;

    /// <summary>Largest response message sent; larger ones fail the call with RESOURCE_EXHAUSTED.</summary>
    public int MaxSendMessageSize { get; set; } = 4 * 1024 * 1024;

    /// <summary>SETTINGS_MAX_CONCURRENT_STREAMS we advertise; streams past it are refused (REFUSED_STREAM).</summary>
    public int MaxConcurrentStreams { get; set; } = 256;

    /// <summary>SETTINGS_MAX_HEADER_LIST_SIZE we advertise and enforce (RFC 9113 size: name + value + 32 per field).</summary>
    public int MaxHeaderListSize { get; set; } = 64 * 1024;

    /// <summary>SETTINGS_INITIAL_WINDOW_SIZE we advertise: how much a client may send on one stream ahead of the handler reading it.</summary>
    public int StreamWindowSize { get; set; } = 1024 * 1024;

    /// <summary>The connection-level receive window we grant.</summary>
    public int ConnectionWindowSize { get; set; } = 4 * 1024 * 1024;

    /// <summary>How long a new connection may take to send the preface and its first SETTINGS.</summary>
    public TimeSpan HandshakeTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Largest number of connections served at once; more are accepted and closed at once.</summary>
    public int MaxConnections { get; set; } = 1024;

    public ILogger? Logger { get; set; }
}
