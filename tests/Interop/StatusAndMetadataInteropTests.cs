using System.Text;
using Google.Protobuf;
using Grpc.Core;
using MetaGpu.Tests.Echo;

namespace MetaGpu.Tests.Interop;

/// <summary>Status codes and messages, request metadata, response headers and trailers.</summary>
public class StatusAndMetadataInteropTests
{
    public static readonly (StatusCode Code, string Message)[] Errors =
    [
        (StatusCode.FailedPrecondition, "GPU 0 überhitzt — 温度 95°C ✓"),
        (StatusCode.Internal, "100% sicher: 50%/50% %41 %zz %\nzweite Zeile\r\ndritte\tZeile"),
        (StatusCode.InvalidArgument, "astral plane: 🚀🧪, NUL-free, \"quoted\" and 'single'"),
        (StatusCode.NotFound, "plain ascii message"),
        (StatusCode.PermissionDenied, ""),
        (StatusCode.Unknown, "unknown"),
        (StatusCode.DataLoss, new string('x', 2000) + " end"),
        (StatusCode.Unauthenticated, "Ünïcode at the start and at the end: ✓"),
    ];

    [Theory, AllPairs]
    public Task ErrorStatus_CodesAndMessagesArriveIntact(Pair pair) => InteropHarness.RunAsync(pair, async env =>
    {
        foreach (var (code, message) in Errors)
        {
            var error = await Assert.ThrowsAsync<RpcException>(() =>
                env.Client.UnaryAsync(new EchoRequest { FailWithCode = (int)code, FailMessage = message }).ResponseAsync);
            Assert.Equal(code, error.StatusCode);
            Assert.Equal(message, error.Status.Detail);
            Assert.Equal("failed", error.Trailers.GetValue(EchoService.Trailer));
        }
        // Errors are per call: the channel carries on.
        Assert.Equal("ok", (await env.Client.UnaryAsync(new EchoRequest { Text = "ok" })).Text);
    });

    [Theory, AllPairs]
    public Task UnknownMethodAndService_Unimplemented(Pair pair) => InteropHarness.RunAsync(pair, async env =>
    {
        var bytes = Marshallers.Create<byte[]>(b => b, b => b);
        foreach (var (service, name) in new[] { ("metagpu.test.Echo", "Nope"), ("metagpu.test.Nope", "Unary") })
        {
            var method = new Method<byte[], byte[]>(MethodType.Unary, service, name, bytes, bytes);
            var error = await Assert.ThrowsAsync<RpcException>(() =>
                env.Invoker.AsyncUnaryCall(method, null, new CallOptions(), []).ResponseAsync);
            Assert.Equal(StatusCode.Unimplemented, error.StatusCode);
        }

        // The same raw invoker reaches a real method, with bytes we encode ourselves.
        var unary = new Method<byte[], byte[]>(MethodType.Unary, "metagpu.test.Echo", "Unary", bytes, bytes);
        var raw = await env.Invoker.AsyncUnaryCall(unary, null, new CallOptions(), new EchoRequest { Text = "raw" }.ToByteArray()).ResponseAsync;
        Assert.Equal("raw", EchoReply.Parser.ParseFrom(raw).Text);
    });

    [Theory, AllPairs]
    public Task RequestOverServerMax_ResourceExhausted(Pair pair) => InteropHarness.RunAsync(pair, async env =>
    {
        var tooBig = new EchoRequest { Payload = ByteString.CopyFrom(UnaryInteropTests.RandomBytes(2 * 1024 * 1024, seed: 7)) };
        var error = await Assert.ThrowsAsync<RpcException>(() => env.Client.UnaryAsync(tooBig).ResponseAsync);
        Assert.Equal(StatusCode.ResourceExhausted, error.StatusCode);

        // Just under the limit still passes, and the connection kept working.
        var fits = UnaryInteropTests.RandomBytes(1024 * 1024 - 64, seed: 8);
        var reply = await env.Client.UnaryAsync(new EchoRequest { Payload = ByteString.CopyFrom(fits) });
        Assert.True(fits.AsSpan().SequenceEqual(reply.Payload.Span));
        if (env.Connections is { } connections)
            Assert.Equal(1, connections);
    }, new InteropLimits { ServerMaxReceiveMessageSize = 1024 * 1024 });

    [Theory, AllPairs]
    public Task ResponseOverClientMax_ResourceExhausted(Pair pair) => InteropHarness.RunAsync(pair, async env =>
    {
        using (var call = env.Client.ServerStream(new StreamRequest { Count = 1, PayloadSize = 2 * 1024 * 1024 }))
        {
            var error = await Assert.ThrowsAsync<RpcException>(() => call.ResponseStream.MoveNext(CancellationToken.None));
            Assert.Equal(StatusCode.ResourceExhausted, error.StatusCode);
        }
        Assert.Equal("ok", (await env.Client.UnaryAsync(new EchoRequest { Text = "ok" })).Text);
    }, new InteropLimits { ClientMaxReceiveMessageSize = 1024 * 1024 });

    [Theory, AllPairs]
    public Task LargeRequestMetadata_SeenExactly(Pair pair) => InteropHarness.RunAsync(pair, async env =>
    {
        var random = new Random(42);
        const string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~!#$&'()*+,/:;=?@[]";
        var headers = new Metadata();
        var expected = new List<string>();
        for (var i = 0; i < 20; i++)
        {
            var value = new string(Enumerable.Range(0, 1024).Select(_ => alphabet[random.Next(alphabet.Length)]).ToArray());
            headers.Add($"x-meta-{i:D2}", value);
            expected.Add($"x-meta-{i:D2}={value}");
        }
        var blob = new byte[8 * 1024];
        random.NextBytes(blob);
        headers.Add("x-blob-bin", blob);
        expected.Add("x-blob-bin=" + Convert.ToBase64String(blob));

        var reply = await env.Client.UnaryAsync(new EchoRequest { Text = "meta" }, headers);
        Assert.Equal("meta", reply.Text);
        foreach (var entry in expected)
            Assert.Single(reply.SeenMetadata, seen => seen == entry);

        // The same headers again: now largely from the HPACK dynamic table (or too big for it).
        reply = await env.Client.UnaryAsync(new EchoRequest { Text = "meta2" }, headers);
        foreach (var entry in expected)
            Assert.Single(reply.SeenMetadata, seen => seen == entry);
    });

    [Theory, AllPairs]
    public Task ResponseHeadersAndTrailers_ReachClient(Pair pair) => InteropHarness.RunAsync(pair, async env =>
    {
        using var call = env.Client.UnaryAsync(new EchoRequest { Text = "ht" });
        var headers = await call.ResponseHeadersAsync;
        Assert.Equal("unary", headers.GetValue(EchoService.ResponseHeader));

        var reply = await call.ResponseAsync;
        Assert.Equal("ht", reply.Text);

        var trailers = call.GetTrailers();
        Assert.Equal("done", trailers.GetValue(EchoService.Trailer));
        Assert.Equal(EchoService.BinaryTrailerValue, trailers.GetValueBytes(EchoService.BinaryTrailer));
        Assert.Equal(StatusCode.OK, call.GetStatus().StatusCode);
    });

    [Theory, AllPairs]
    public Task BinaryRequestHeader_NonUtf8_RoundTrips(Pair pair) => InteropHarness.RunAsync(pair, async env =>
    {
        byte[][] values = [[], [0], [0xFF, 0xFE, 0x00, 0x80], Encoding.UTF8.GetBytes("ü✓"), [.. Enumerable.Range(0, 256).Select(i => (byte)i)]];
        for (var i = 0; i < values.Length; i++)
        {
            var reply = await env.Client.UnaryAsync(new EchoRequest(), new Metadata { { "x-raw-bin", values[i] } });
            Assert.Single(reply.SeenMetadata, seen => seen == "x-raw-bin=" + Convert.ToBase64String(values[i]));
        }
    });
}
