using Grpc.Core;
using MetaGpu.Rpc.Http2;
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

    /// <summary>
    /// Largest number of connections served at once. At the cap the connection idle longest (no open stream) is
    /// closed to make room; only when every connection has an open stream is a new one refused.
    /// </summary>
    public int MaxConnections { get; set; } = 1024;

    /// <summary>A connection with no open stream for this long is closed (GOAWAY NO_ERROR); one with an open stream never is. Infinite: off.</summary>
    public TimeSpan IdleTimeout { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>A request message whose bytes stop arriving for this long after it began is reset (CANCEL); idle streams are not timed. Infinite: off.</summary>
    public TimeSpan MessageAssemblyTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Process-wide limit on what peers make us buffer; shared by every server that names the same instance (default: <see cref="MemoryBudget.Shared"/>, 16 MiB).</summary>
    public MemoryBudget MemoryBudget { get; set; } = MemoryBudget.Shared;

    /// <summary>One connection's share of <see cref="MemoryBudget"/> (request bytes, messages being assembled, open streams' headers).</summary>
    public int MaxConnectionBufferedBytes { get; set; } = 6 * 1024 * 1024;

    /// <summary>Rapid reset: more streams reset (by the client, or for its errors) than this per <see cref="ResetInterval"/> gets GOAWAY(ENHANCE_YOUR_CALM).</summary>
    public int MaxResetsPerInterval { get; set; } = 200;

    public TimeSpan ResetInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// After a burst of calls, once the process has had no call for this long, one compacting full collection gives
    /// the burst's memory back to the system (a few ms). Process-wide; null or infinite: off.
    /// </summary>
    public TimeSpan? IdleCompactionDelay { get; set; } = TimeSpan.FromSeconds(1.5);

    /// <summary>
    /// Read each connection's peer credentials at accept (<see cref="UnixPeer"/>: SO_PEERCRED, and SO_PEERPIDFD where
    /// the kernel has it), for services that decide by who calls. Off by default: a pidfd is one more fd per connection.
    /// </summary>
    public bool ReadPeerCredentials { get; set; }

    /// <summary>
    /// Run each connection's socket completions on the runtime's socket event thread, not the thread pool
    /// (<see cref="InlineCompletions"/>): one hand-over fewer per call. Only for a server whose inline handlers never
    /// wait (the device plugin's); other sockets of the process keep the default.
    /// </summary>
    public bool InlineSocketCompletions { get; set; }

    public ILogger? Logger { get; set; }

    /// <summary>
    /// Told of every finished call: its method (<c>/package.Service/Method</c>), its status and how long it took from
    /// its headers to its status (metrics). Called on the call's thread, so it must be cheap and must not throw.
    /// </summary>
    public Action<string, StatusCode, TimeSpan>? CallFinished { get; set; }
}
