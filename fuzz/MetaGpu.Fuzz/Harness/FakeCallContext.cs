using Grpc.Core;

namespace MetaGpu.Fuzz;

/// <summary>The call context a handler sees when the fuzz target calls it directly, without a transport.</summary>
internal sealed class FakeCallContext(string method, CancellationToken cancellationToken) : ServerCallContext
{
    private readonly Metadata _trailers = [];

    protected override string MethodCore => method;
    protected override string HostCore => "localhost";
    protected override string PeerCore => "unix:fuzz";
    protected override DateTime DeadlineCore => DateTime.MaxValue;
    protected override Metadata RequestHeadersCore { get; } = [];
    protected override CancellationToken CancellationTokenCore => cancellationToken;
    protected override Metadata ResponseTrailersCore => _trailers;
    protected override Status StatusCore { get; set; }
    protected override WriteOptions? WriteOptionsCore { get; set; }
    protected override AuthContext AuthContextCore => new(null, []);

    protected override ContextPropagationToken CreatePropagationTokenCore(ContextPropagationOptions? options) =>
        throw new NotSupportedException("no propagation in fuzz calls");

    protected override Task WriteResponseHeadersAsyncCore(Metadata responseHeaders) => Task.CompletedTask;
}
