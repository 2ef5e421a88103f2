using Grpc.Core;
using MetaGpu.Rpc.Grpc;
using MetaGpu.Rpc.Http2;

namespace MetaGpu.Tests.Transport;

/// <summary>
/// A method bound with <c>inline: true</c> runs on the connection's read loop. It must answer whatever the shape of
/// the request on the wire, never hold up the connection's other calls, and fail like any other handler.
/// </summary>
public sealed class InlineDispatchTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    private static async Task<(Dictionary<string, string> Trailers, byte[] Data)> ReadAnswerAsync(RawHttp2Client client, int streamId)
    {
        var data = new List<byte>();
        while (await client.ReadFrameAsync(Timeout) is { } f)
        {
            if (f.StreamId != streamId)
                continue;
            if (f.Type == FrameType.Data)
                data.AddRange(f.Payload);
            if (f.Type == FrameType.Headers && (f.Flags & FrameFlags.EndStream) != 0)
                return (client.DecodeHeaders(f.Payload), data.ToArray());
            if (f.Type == FrameType.RstStream)
                throw new InvalidOperationException($"stream {streamId} reset: {f.RstCode}");
        }
        throw new TimeoutException($"no answer on stream {streamId}");
    }

    /// <summary>
    /// Takes one frame of the answers: DATA of a watched stream into its body; a header block decoded (every one, in
    /// order, for HPACK), and at END_STREAM the stream's OK status checked and its finish recorded. Returns the stream
    /// that finished with this frame, 0 for none.
    /// </summary>
    private static int Record(RawHttp2Client client, RawFrame f, Dictionary<int, List<byte>> bodies, List<int> finished)
    {
        if (f.Type == FrameType.Data && bodies.TryGetValue(f.StreamId, out var b))
            b.AddRange(f.Payload);
        if (f.Type != FrameType.Headers)
            return 0;
        var fields = client.DecodeHeaders(f.Payload);
        if ((f.Flags & FrameFlags.EndStream) == 0)
            return 0;
        Assert.Equal("0", fields["grpc-status"]);
        finished.Add(f.StreamId);
        return f.StreamId;
    }

    /// <summary>
    /// Reads the answers of stream 1, whose handler blocks until <see cref="RawServiceFixture.ReleaseBlocked"/>, and
    /// stream 3; releases stream 1 once stream 3 is answered, or after 500 ms when stream 1 is expected on the read loop
    /// (<paramref name="inline"/>: stream 3 cannot be answered before). Every header block is decoded in order (HPACK);
    /// returns the order the two calls finished in and their bodies.
    /// </summary>
    private static async Task<(List<int> Finished, Dictionary<int, List<byte>> Bodies)> BlockedThenOtherAsync(
        RawHttp2Client client, RawServiceFixture fx, bool inline)
    {
        var finished = new List<int>();
        var bodies = new Dictionary<int, List<byte>> { [1] = [], [3] = [] };
        var otherAnswered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var reading = Task.Run(async () =>
        {
            while (finished.Count < 2 && await client.ReadFrameAsync(Timeout) is { } f)
            {
                if (Record(client, f, bodies, finished) == 3)
                    otherAnswered.TrySetResult();
            }
        });
        await Task.WhenAny(otherAnswered.Task, Task.Delay(inline ? 500 : 10_000));
        fx.ReleaseBlocked.Set();
        await reading;
        return (finished, bodies);
    }

    [Fact]
    public async Task AnswersARequestWhoseMessageCameWithItsHeaders()
    {
        await using var fx = new RawServiceFixture();
        await using var client = await RawHttp2Client.ConnectAsync(fx.SocketPath);
        await client.HandshakeAsync();
        var headers = RawHttp2Client.Frame(FrameType.Headers, FrameFlags.EndHeaders, 1, client.RequestHeaderBlock("/test.Raw/InlineEcho"));
        var data = RawHttp2Client.Frame(FrameType.Data, FrameFlags.EndStream, 1, RawHttp2Client.GrpcMessage([1, 2, 3]));
        await client.SendAsync(headers.Concat(data).ToArray()); // one write: one batch on the server
        var (trailers, body) = await ReadAnswerAsync(client, 1);
        Assert.Equal("0", trailers["grpc-status"]);
        Assert.Equal(RawHttp2Client.GrpcMessage([1, 2, 3]), body);
        Assert.Equal(1, fx.InlineCalls);
    }

    [Fact]
    public async Task AnswersARequestWhoseMessageComesLater()
    {
        await using var fx = new RawServiceFixture();
        await using var client = await RawHttp2Client.ConnectAsync(fx.SocketPath);
        await client.HandshakeAsync();
        await client.SendFrameAsync(FrameType.Headers, FrameFlags.EndHeaders, 1, client.RequestHeaderBlock("/test.Raw/InlineEcho"));
        await Task.Delay(300);
        var message = RawHttp2Client.GrpcMessage([4, 5, 6, 7]);
        await client.SendFrameAsync(FrameType.Data, FrameFlags.None, 1, message[..3]);
        await Task.Delay(100);
        await client.SendFrameAsync(FrameType.Data, FrameFlags.EndStream, 1, message[3..]);
        var (trailers, body) = await ReadAnswerAsync(client, 1);
        Assert.Equal("0", trailers["grpc-status"]);
        Assert.Equal(message, body);
    }

    /// <summary>An inline call whose message has not come must not stop the read loop: other calls go on.</summary>
    [Fact]
    public async Task AWaitingInlineCallDoesNotHoldUpTheConnection()
    {
        await using var fx = new RawServiceFixture();
        await using var client = await RawHttp2Client.ConnectAsync(fx.SocketPath);
        await client.HandshakeAsync();
        await client.SendFrameAsync(FrameType.Headers, FrameFlags.EndHeaders, 1, client.RequestHeaderBlock("/test.Raw/InlineEcho"));
        await client.SendFrameAsync(FrameType.Headers, FrameFlags.EndHeaders, 3, client.RequestHeaderBlock("/test.Raw/InlineEcho"));
        await client.SendFrameAsync(FrameType.Data, FrameFlags.EndStream, 3, RawHttp2Client.GrpcMessage([3]));
        var (second, body) = await ReadAnswerAsync(client, 3);
        Assert.Equal("0", second["grpc-status"]);
        Assert.Equal(RawHttp2Client.GrpcMessage([3]), body);
        await client.SendFrameAsync(FrameType.Data, FrameFlags.EndStream, 1, RawHttp2Client.GrpcMessage([1]));
        var (first, _) = await ReadAnswerAsync(client, 1);
        Assert.Equal("0", first["grpc-status"]);
    }

    [Fact]
    public async Task AFailingInlineHandlerIsAnErrorStatusAndTheConnectionGoesOn()
    {
        await using var fx = new RawServiceFixture();
        using var channel = new UnixChannel(fx.SocketPath);
        var invoker = channel.CreateCallInvoker();
        var e = await Assert.ThrowsAsync<RpcException>(() => invoker.AsyncUnaryCall(RawServiceFixture.InlineEchoMethod, null, default, [0xFF]).ResponseAsync);
        Assert.Equal(StatusCode.Unknown, e.StatusCode);
        Assert.Equal(new byte[] { 9 }, await channel.UnaryAsync(RawServiceFixture.InlineEchoMethod, [9], default));
        await fx.AssertServesFreshClientAsync();
    }

    /// <summary>An independent client (Grpc.Net.Client), many calls at once on one connection.</summary>
    [Fact]
    public async Task ConcurrentCallsFromGrpcNetClientAreAllAnswered()
    {
        await using var fx = new RawServiceFixture();
        using var channel = RawServiceFixture.GrpcNetChannel(fx.SocketPath);
        var invoker = channel.CreateCallInvoker();
        var calls = Enumerable.Range(0, 200).Select(async i =>
        {
            var payload = BitConverter.GetBytes(i);
            var reply = await invoker.AsyncUnaryCall(RawServiceFixture.InlineEchoMethod, null, new CallOptions(deadline: DateTime.UtcNow + Timeout), payload);
            Assert.Equal(payload, reply);
        });
        await Task.WhenAll(calls);
        Assert.Equal(200, fx.InlineCalls);
    }

    /// <summary>
    /// A method inline only up to a request size: a larger request runs on the pool, so a handler that blocks on it
    /// holds up no other call of the connection; one within the size runs on the read loop, and does.
    /// </summary>
    [Theory]
    [InlineData(RawServiceFixture.BoundedInlineMaxBytes + 1, false)]
    [InlineData(RawServiceFixture.BoundedInlineMaxBytes, true)]
    public async Task AMethodInlineUpToASizeRunsALargerRequestOnThePool(int size, bool inline)
    {
        await using var fx = new RawServiceFixture();
        await using var client = await RawHttp2Client.ConnectAsync(fx.SocketPath);
        await client.HandshakeAsync();
        var message = new byte[size];
        message[0] = 0xEE; // blocks its thread until released
        var headers = RawHttp2Client.Frame(FrameType.Headers, FrameFlags.EndHeaders, 1, client.RequestHeaderBlock("/test.Raw/BoundedInline"));
        var data = RawHttp2Client.Frame(FrameType.Data, FrameFlags.EndStream, 1, RawHttp2Client.GrpcMessage(message));
        await client.SendAsync(headers.Concat(data).ToArray());
        await client.SendAsync(RawHttp2Client.Frame(FrameType.Headers, FrameFlags.EndHeaders, 3, client.RequestHeaderBlock("/test.Raw/Echo"))
            .Concat(RawHttp2Client.Frame(FrameType.Data, FrameFlags.EndStream, 3, RawHttp2Client.GrpcMessage([3]))).ToArray());
        var (finished, bodies) = await BlockedThenOtherAsync(client, fx, inline);
        Assert.Equal(inline ? [1, 3] : [3, 1], finished);
        Assert.Equal(RawHttp2Client.GrpcMessage(message), bodies[1].ToArray());
    }

    /// <summary>
    /// A request of a method inline up to a size whose message comes in two reads is read and answered on the read
    /// loop once its last bytes arrive (no hand-over to the pool) when its length prefix declares at most the size: a
    /// handler that blocks on it holds up the call after it, as one whose message came whole does. Over the size it
    /// goes to the pool, wherever its prefix came. The headers come with the first <paramref name="firstBytes"/> bytes
    /// of the framed message (0: alone); the rest, then another call, in a later write.
    /// </summary>
    [Theory]
    [InlineData(RawServiceFixture.BoundedInlineMaxBytes, 8, true)]
    [InlineData(RawServiceFixture.BoundedInlineMaxBytes, 3, true)]
    [InlineData(RawServiceFixture.BoundedInlineMaxBytes, 0, true)]
    [InlineData(RawServiceFixture.BoundedInlineMaxBytes + 1, 0, false)]
    [InlineData(RawServiceFixture.BoundedInlineMaxBytes + 1, 3, false)]
    public async Task ARequestThatComesInPiecesIsAnsweredOnTheReadLoopWithinTheInlineSize(int size, int firstBytes, bool inline)
    {
        await using var fx = new RawServiceFixture();
        await using var client = await RawHttp2Client.ConnectAsync(fx.SocketPath);
        await client.HandshakeAsync();
        var message = new byte[size];
        message[0] = 0xEE; // blocks its thread until released
        var framed = RawHttp2Client.GrpcMessage(message);
        var first = RawHttp2Client.Frame(FrameType.Headers, FrameFlags.EndHeaders, 1, client.RequestHeaderBlock("/test.Raw/BoundedInline"));
        if (firstBytes > 0)
            first = first.Concat(RawHttp2Client.Frame(FrameType.Data, FrameFlags.None, 1, framed[..firstBytes])).ToArray();
        await client.SendAsync(first);
        await Task.Delay(200); // the server dispatched the call and its reader waits for the rest
        await client.SendAsync(RawHttp2Client.Frame(FrameType.Data, FrameFlags.EndStream, 1, framed[firstBytes..])
            .Concat(RawHttp2Client.Frame(FrameType.Headers, FrameFlags.EndHeaders, 3, client.RequestHeaderBlock("/test.Raw/Echo")))
            .Concat(RawHttp2Client.Frame(FrameType.Data, FrameFlags.EndStream, 3, RawHttp2Client.GrpcMessage([3]))).ToArray());
        var (finished, bodies) = await BlockedThenOtherAsync(client, fx, inline);
        Assert.Equal(inline ? [1, 3] : [3, 1], finished);
        Assert.Equal(framed, bodies[1].ToArray());
        Assert.Equal(RawHttp2Client.GrpcMessage([3]), bodies[3].ToArray());
    }

    /// <summary>
    /// An inline call whose answer is stuck behind a peer's closed stream window (a client that never reads) waits
    /// for the window off the read loop: the connection's next call is answered meanwhile, and the stuck one once
    /// the window opens.
    /// </summary>
    [Fact]
    public async Task AnInlineAnswerWaitingForTheWindowDoesNotHoldUpTheConnection()
    {
        await using var fx = new RawServiceFixture();
        await using var client = await RawHttp2Client.ConnectAsync(fx.SocketPath);
        await client.SendPrefaceAsync();
        await client.SendFrameAsync(FrameType.Settings, FrameFlags.None, 0, Http2ConformanceTests.Settings((SettingId.InitialWindowSize, 1000)));
        await client.SendFrameAsync(FrameType.WindowUpdate, FrameFlags.None, 0, Http2ConformanceTests.WindowUpdate(10_000_000));
        var big = new byte[20_000];
        big[0] = 1;
        await client.SendAsync(RawHttp2Client.Frame(FrameType.Headers, FrameFlags.EndHeaders, 1, client.RequestHeaderBlock("/test.Raw/InlineEcho"))
            .Concat(RawHttp2Client.Frame(FrameType.Data, FrameFlags.None, 1, RawHttp2Client.GrpcMessage(big)[..16_000]))
            .Concat(RawHttp2Client.Frame(FrameType.Data, FrameFlags.EndStream, 1, RawHttp2Client.GrpcMessage(big)[16_000..])).ToArray());
        await client.SendAsync(RawHttp2Client.Frame(FrameType.Headers, FrameFlags.EndHeaders, 3, client.RequestHeaderBlock("/test.Raw/InlineEcho"))
            .Concat(RawHttp2Client.Frame(FrameType.Data, FrameFlags.EndStream, 3, RawHttp2Client.GrpcMessage([3]))).ToArray());

        var bodies = new Dictionary<int, List<byte>> { [1] = [], [3] = [] };
        var finished = new List<int>();
        async Task ReadUntilQuietAsync(TimeSpan quiet)
        {
            while (await client.ReadFrameAsync(quiet) is { } f)
                Record(client, f, bodies, finished);
        }

        await ReadUntilQuietAsync(TimeSpan.FromMilliseconds(500));
        Assert.Equal([3], finished); // answered while stream 1 waits for its window
        Assert.Equal(1000, bodies[1].Count);
        await client.SendFrameAsync(FrameType.WindowUpdate, FrameFlags.None, 1, Http2ConformanceTests.WindowUpdate(100_000));
        await ReadUntilQuietAsync(TimeSpan.FromMilliseconds(500));
        Assert.Equal([3, 1], finished);
        Assert.Equal(RawHttp2Client.GrpcMessage(big), bodies[1].ToArray());
    }
}
