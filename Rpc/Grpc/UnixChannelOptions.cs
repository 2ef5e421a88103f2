using Microsoft.Extensions.Logging;

namespace MetaGpu.Rpc.Grpc;

/// <summary>Knobs of <see cref="UnixChannel"/>.</summary>
public sealed class UnixChannelOptions
{
    /// <summary>How long connecting to the socket (and sending the preface) may take before the call fails with UNAVAILABLE.</summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Largest response message accepted; larger ones fail the call with RESOURCE_EXHAUSTED.</summary>
    public int MaxReceiveMessageSize { get; set; } = 4 * 1024 * 1024;

    /// <summary>Largest request message sent; larger ones fail the call with RESOURCE_EXHAUSTED.</summary>
    public int MaxSendMessageSize { get; set; } = 4 * 1024 * 1024;

    /// <summary>The :authority sent; grpc-go and Kestrel accept any.</summary>
    public string Authority { get; set; } = "localhost";

    /// <summary>SETTINGS_MAX_HEADER_LIST_SIZE we advertise and enforce on responses; a larger response fails the call.</summary>
    public int MaxHeaderListSize { get; set; } = 64 * 1024;

    /// <summary>
    /// The budget for what this channel's connections buffer (responses being read). Null (the default): one of the
    /// channel's own, so that a client's large responses never take room from the servers of the process; each
    /// connection is still held to its share (<see cref="MetaGpu.Rpc.Http2.Http2ConnectionOptions.MaxBufferedBytes"/>).
    /// </summary>
    public MetaGpu.Rpc.Http2.MemoryBudget? MemoryBudget { get; set; }

    public ILogger? Logger { get; set; }
}
