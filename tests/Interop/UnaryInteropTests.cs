using Google.Protobuf;
using Grpc.Core;
using MetaGpu.Tests.Echo;

namespace MetaGpu.Tests.Interop;

/// <summary>Unary calls: payload shapes, sizes, many calls on one connection.</summary>
public class UnaryInteropTests
{
    internal static byte[] RandomBytes(int size, int seed)
    {
        var bytes = new byte[size];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    [Theory, AllPairs]
    public Task Unary_Text(Pair pair) => InteropHarness.RunAsync(pair, async env =>
    {
        const string text = "hello, MetaGPU — ünïcødé 温度 ✓ 🚀";
        var reply = await env.Client.UnaryAsync(new EchoRequest { Text = text });
        Assert.Equal(text, reply.Text);
        Assert.True(reply.Payload.IsEmpty);
    });

    [Theory, AllPairs]
    public Task Unary_EmptyMessage(Pair pair) => InteropHarness.RunAsync(pair, async env =>
    {
        // Encodes to a zero-length gRPC message both ways.
        var reply = await env.Client.UnaryAsync(new EchoRequest());
        Assert.Equal("", reply.Text);
        Assert.True(reply.Payload.IsEmpty);
        Assert.Equal(0, reply.Sequence);
    });

    [Theory, AllPairs]
    public Task Unary_BinaryPayload(Pair pair) => InteropHarness.RunAsync(pair, async env =>
    {
        var payload = Enumerable.Range(0, 1024).Select(i => (byte)i).ToArray();
        var reply = await env.Client.UnaryAsync(new EchoRequest { Payload = ByteString.CopyFrom(payload) });
        Assert.Equal(payload, reply.Payload.ToByteArray());
    });

    [Theory, AllPairs]
    public Task Unary_3MiB_BothWays(Pair pair) => InteropHarness.RunAsync(pair, async env =>
    {
        // Far past the 64 KiB default HTTP/2 windows: many WINDOW_UPDATEs each way.
        var payload = RandomBytes(3 * 1024 * 1024, seed: 3);
        for (var round = 0; round < 2; round++)
        {
            var reply = await env.Client.UnaryAsync(new EchoRequest { Text = "big", Payload = ByteString.CopyFrom(payload) });
            Assert.Equal("big", reply.Text);
            Assert.True(payload.AsSpan().SequenceEqual(reply.Payload.Span), "3 MiB payload came back altered");
        }
    });

    [Theory, AllPairs]
    public Task Unary_100Concurrent_OnOneConnection(Pair pair) => InteropHarness.RunAsync(pair, async env =>
    {
        const int calls = 100;
        var replies = await Task.WhenAll(Enumerable.Range(0, calls).Select(async i =>
        {
            // Everyone waits long enough at the server to be in flight together; staggered so answers come back out of order.
            var request = new EchoRequest { Text = $"call-{i}", Payload = ByteString.CopyFrom(RandomBytes(i * 10, seed: i)), DelayMs = 300 + (calls - i) * 2 };
            var reply = await env.Client.UnaryAsync(request);
            return (i, request, reply);
        }));

        foreach (var (i, request, reply) in replies)
        {
            Assert.Equal($"call-{i}", reply.Text);
            Assert.Equal(request.Payload, reply.Payload);
        }
        Assert.True(env.Service.MaxInFlight >= calls / 2, $"only {env.Service.MaxInFlight} calls were in flight at once at the server");
        if (env.Connections is { } connections)
            Assert.Equal(1, connections);
    });

    [Theory, AllPairs]
    public Task Unary_300Sequential_ChangingMetadata(Pair pair) => InteropHarness.RunAsync(pair, async env =>
    {
        // Header values that change every call churn both HPACK dynamic tables; the repeated ones get indexed.
        for (var i = 0; i < 300; i++)
        {
            var headers = new Metadata
            {
                { "x-fixed", "same-every-time" },
                { "x-seq", i.ToString() },
                { "x-pad-" + (i % 7), new string((char)('a' + i % 26), 1 + i % 200) },
            };
            var reply = await env.Client.UnaryAsync(new EchoRequest { Text = "n" + i }, headers);
            Assert.Equal("n" + i, reply.Text);
            Assert.Contains("x-fixed=same-every-time", reply.SeenMetadata);
            Assert.Contains($"x-seq={i}", reply.SeenMetadata);
            Assert.Contains($"x-pad-{i % 7}={new string((char)('a' + i % 26), 1 + i % 200)}", reply.SeenMetadata);
        }
        if (env.Connections is { } connections)
            Assert.Equal(1, connections);
    });
}
