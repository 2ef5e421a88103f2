using Google.Protobuf;
using Grpc.Core;
using MetaGpu.Tests.Echo;

namespace MetaGpu.Tests.Interop;

/// <summary>Server streaming, client streaming and duplex calls.</summary>
public class StreamingInteropTests
{
    [Theory, AllPairs]
    public Task ServerStream_5000_InOrder(Pair pair) => InteropHarness.RunAsync(pair, async env =>
    {
        const int count = 5000, size = 48;
        using var call = env.Client.ServerStream(new StreamRequest { Count = count, PayloadSize = size });
        var expected = 0;
        while (await call.ResponseStream.MoveNext(CancellationToken.None))
        {
            var reply = call.ResponseStream.Current;
            Assert.Equal(expected, reply.Sequence);
            Assert.Equal("m" + expected, reply.Text);
            Assert.True(EchoService.StreamPayload(expected, size).AsSpan().SequenceEqual(reply.Payload.Span), $"payload of message {expected} altered");
            expected++;
        }
        Assert.Equal(count, expected);
        Assert.Equal(StatusCode.OK, call.GetStatus().StatusCode);
        Assert.Equal("streamed 5000", call.GetTrailers().GetValue(EchoService.Trailer));
    });

    [Theory, AllPairs]
    public Task ServerStream_3MiBMessages(Pair pair) => InteropHarness.RunAsync(pair, async env =>
    {
        const int size = 3 * 1024 * 1024;
        using var call = env.Client.ServerStream(new StreamRequest { Count = 3, PayloadSize = size });
        var expected = 0;
        await foreach (var reply in call.ResponseStream.ReadAllAsync())
        {
            Assert.Equal(expected, reply.Sequence);
            Assert.True(EchoService.StreamPayload(expected, size).AsSpan().SequenceEqual(reply.Payload.Span), $"payload of message {expected} altered");
            expected++;
        }
        Assert.Equal(3, expected);
    });

    [Theory, AllPairs]
    public Task ServerStream_NoMessages(Pair pair) => InteropHarness.RunAsync(pair, async env =>
    {
        using var call = env.Client.ServerStream(new StreamRequest { Count = 0 });
        Assert.False(await call.ResponseStream.MoveNext(CancellationToken.None));
        Assert.Equal(StatusCode.OK, call.GetStatus().StatusCode);
        Assert.Equal("streamed 0", call.GetTrailers().GetValue(EchoService.Trailer));
    });

    [Theory, AllPairs]
    public Task ClientStream_100Messages(Pair pair) => InteropHarness.RunAsync(pair, async env =>
    {
        using var call = env.Client.ClientStream();
        var sent = new List<byte>();
        for (var i = 0; i < 100; i++)
        {
            var payload = UnaryInteropTests.RandomBytes(i * 37, seed: 1000 + i);
            sent.AddRange(payload);
            await call.RequestStream.WriteAsync(new EchoRequest { Text = "c" + i, Payload = ByteString.CopyFrom(payload) });
        }
        await call.RequestStream.CompleteAsync();

        var reply = await call.ResponseAsync;
        Assert.Equal(100, reply.Sequence);
        Assert.Equal(string.Join("|", Enumerable.Range(0, 100).Select(i => "c" + i)), reply.Text);
        Assert.Equal(sent.ToArray(), reply.Payload.ToByteArray());
        Assert.Equal("received 100", call.GetTrailers().GetValue(EchoService.Trailer));
    });

    [Theory, AllPairs]
    public Task ClientStream_NoMessages(Pair pair) => InteropHarness.RunAsync(pair, async env =>
    {
        using var call = env.Client.ClientStream();
        await call.RequestStream.CompleteAsync();
        var reply = await call.ResponseAsync;
        Assert.Equal(0, reply.Sequence);
        Assert.Equal("", reply.Text);
        Assert.Equal("received 0", call.GetTrailers().GetValue(EchoService.Trailer));
    });

    [Theory, AllPairs]
    public Task Duplex_PingPong(Pair pair) => InteropHarness.RunAsync(pair, async env =>
    {
        // Each reply is read before the next request is written: only true bidirectional streaming passes.
        using var call = env.Client.Duplex();
        for (var i = 0; i < 50; i++)
        {
            var payload = UnaryInteropTests.RandomBytes(i * 100, seed: 2000 + i);
            await call.RequestStream.WriteAsync(new EchoRequest { Text = "d" + i, Payload = ByteString.CopyFrom(payload) });
            Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None), $"no reply to message {i}");
            var reply = call.ResponseStream.Current;
            Assert.Equal(i, reply.Sequence);
            Assert.Equal("d" + i, reply.Text);
            Assert.Equal(payload, reply.Payload.ToByteArray());
        }
        await call.RequestStream.CompleteAsync();
        Assert.False(await call.ResponseStream.MoveNext(CancellationToken.None));
        Assert.Equal(StatusCode.OK, call.GetStatus().StatusCode);
        Assert.Equal("duplexed 50", call.GetTrailers().GetValue(EchoService.Trailer));
    });

    [Theory, AllPairs]
    public Task Duplex_ServerFailsMidStream(Pair pair) => InteropHarness.RunAsync(pair, async env =>
    {
        using var call = env.Client.Duplex();
        for (var i = 0; i < 3; i++)
        {
            await call.RequestStream.WriteAsync(new EchoRequest { Text = "ok" + i });
            Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None));
            Assert.Equal("ok" + i, call.ResponseStream.Current.Text);
        }
        await call.RequestStream.WriteAsync(new EchoRequest { FailWithCode = (int)StatusCode.Aborted, FailMessage = "stop at 3" });

        var error = await Assert.ThrowsAsync<RpcException>(() => call.ResponseStream.MoveNext(CancellationToken.None));
        Assert.Equal(StatusCode.Aborted, error.StatusCode);
        Assert.Equal("stop at 3", error.Status.Detail);
        Assert.Equal("failed", error.Trailers.GetValue(EchoService.Trailer));

        // The channel is still good.
        Assert.Equal("after", (await env.Client.UnaryAsync(new EchoRequest { Text = "after" })).Text);
    });
}
