using System.Collections.Concurrent;
using Google.Protobuf;
using Grpc.Core;
using MetaGpu.Tests.Echo;
using EchoGrpc = MetaGpu.Tests.Echo.Echo;

namespace MetaGpu.Bench;

/// <summary>
/// The least an Echo service can do, so that the figures are the transport's: Unary hands the request payload back,
/// ServerStream writes one preallocated payload <c>count</c> times.
/// </summary>
public sealed class BenchEchoService : EchoGrpc.EchoBase
{
    readonly ConcurrentDictionary<int, ByteString> payloads = new();

    public override Task<EchoReply> Unary(EchoRequest request, ServerCallContext context) =>
        Task.FromResult(new EchoReply { Text = request.Text, Payload = request.Payload });

    public override async Task ServerStream(StreamRequest request, IServerStreamWriter<EchoReply> responseStream, ServerCallContext context)
    {
        var payload = payloads.GetOrAdd(request.PayloadSize, size =>
        {
            var bytes = new byte[size];
            new Random(size).NextBytes(bytes);
            return UnsafeByteOperations.UnsafeWrap(bytes);
        });
        for (var i = 0; i < request.Count; i++)
            await responseStream.WriteAsync(new EchoReply { Sequence = i, Payload = payload }, context.CancellationToken);
    }

    public override async Task<EchoReply> ClientStream(IAsyncStreamReader<EchoRequest> requestStream, ServerCallContext context)
    {
        var count = 0;
        while (await requestStream.MoveNext(context.CancellationToken))
            count++;
        return new EchoReply { Sequence = count };
    }

    public override async Task Duplex(IAsyncStreamReader<EchoRequest> requestStream, IServerStreamWriter<EchoReply> responseStream, ServerCallContext context)
    {
        var sequence = 0;
        while (await requestStream.MoveNext(context.CancellationToken))
            await responseStream.WriteAsync(new EchoReply { Sequence = sequence++, Payload = requestStream.Current.Payload }, context.CancellationToken);
    }
}
