using System.Diagnostics;
using Grpc.Core;
using MetaGpu.Rpc.Grpc;
using MetaGpu.Rpc.Http2;

namespace MetaGpu.Tests.Transport;

/// <summary>Our client's behaviour when the server is missing, restarts, goes away or limits streams.</summary>
public sealed class UnixChannelTests
{
    private static CallInvoker Invoker(UnixChannel channel) => channel.CreateCallInvoker();

    [Fact]
    public async Task MissingSocketIsUnavailableWithTheReason()
    {
        var path = Path.Combine(Path.GetTempPath(), "mg-none-" + Guid.NewGuid().ToString("N")[..8] + ".sock");
        using var channel = new UnixChannel(path);
        var watch = Stopwatch.StartNew();
        var e = await Assert.ThrowsAsync<RpcException>(() => Invoker(channel).AsyncUnaryCall(RawServiceFixture.EchoMethod, null, default, [1]).ResponseAsync);
        Assert.Equal(StatusCode.Unavailable, e.StatusCode);
        Assert.Contains(path, e.Status.Detail);
        Assert.Contains("no socket", e.Status.Detail);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(2));
    }

    /// <summary>
    /// A long-lived channel (the pod-resources client: one List a second for the daemon's life) gives back what each
    /// response took from its budget: thousands of 10 KB answers on one connection, and nothing stays charged.
    /// </summary>
    [Theory]
    [InlineData(10_000)]
    [InlineData(100)]
    [InlineData(200_000)]
    public async Task EveryResponseGivesBackItsMemory(int size)
    {
        await using var fx = new RawServiceFixture();
        var budget = new MetaGpu.Rpc.Http2.MemoryBudget(64 * 1024 * 1024);
        using var channel = new UnixChannel(fx.SocketPath, new UnixChannelOptions { MemoryBudget = budget });
        var payload = new byte[size];
        var calls = Math.Max(300, 20_000_000 / size); // far more than one connection may hold at once
        for (var i = 0; i < calls; i++)
            Assert.Equal(size, (await Invoker(channel).AsyncUnaryCall(RawServiceFixture.EchoMethod, null, default, payload)).Length);
        Assert.Equal(0, budget.Current);
    }

    /// <summary>
    /// An answer of many output chunks leaves in gathered sends (one sendmsg for all the chunks a flush holds), and a
    /// socket that takes part of it (the peer reads more slowly than we write 1.5 MiB) gets the rest in order: every
    /// byte arrives as sent, to our client and to Grpc.Net.Client, call after call on one connection.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task AnAnswerOfManyChunksArrivesWholeAndInOrder(bool grpcNet)
    {
        await using var fx = new RawServiceFixture();
        using var ours = new UnixChannel(fx.SocketPath);
        using var theirs = RawServiceFixture.GrpcNetChannel(fx.SocketPath);
        var invoker = grpcNet ? theirs.CreateCallInvoker() : Invoker(ours);
        var random = new Random(7);
        foreach (var size in new[] { 23_000, 70_000, 1_500_000, 40_000 })
        {
            var payload = new byte[size];
            random.NextBytes(payload);
            var answer = await invoker.AsyncUnaryCall(RawServiceFixture.EchoMethod, null, new CallOptions(deadline: DateTime.UtcNow.AddSeconds(30)), payload);
            Assert.Equal(payload, answer);
        }
    }

    /// <summary>
    /// A flush of many chunks larger than the socket takes at once (a peer with an 8 MiB window that does not read for
    /// a while): the gathered send is taken in parts as the peer reads, and every byte arrives in order.
    /// </summary>
    [Fact]
    public async Task AFlushTheSocketTakesInPartsArrivesInOrder()
    {
        await using var fx = new RawServiceFixture();
        await using var client = await RawHttp2Client.ConnectAsync(fx.SocketPath);
        await client.SendPrefaceAsync();
        await client.SendFrameAsync(FrameType.Settings, FrameFlags.None, 0,
            Http2ConformanceTests.Settings((MetaGpu.Rpc.Http2.SettingId.InitialWindowSize, 8 << 20)));
        await client.SendFrameAsync(FrameType.WindowUpdate, FrameFlags.None, 0, Http2ConformanceTests.WindowUpdate(8 << 20));
        var payload = new byte[700_000];
        new Random(11).NextBytes(payload);
        var framed = RawHttp2Client.GrpcMessage(payload);
        var request = new List<byte>(RawHttp2Client.Frame(FrameType.Headers, FrameFlags.EndHeaders, 1, client.RequestHeaderBlock("/test.Raw/Echo")));
        for (var at = 0; at < framed.Length; at += 16_384)
        {
            var n = Math.Min(16_384, framed.Length - at);
            request.AddRange(RawHttp2Client.Frame(FrameType.Data, at + n == framed.Length ? FrameFlags.EndStream : FrameFlags.None, 1, framed.AsSpan(at, n)));
        }
        await client.SendAsync(request.ToArray());
        await Task.Delay(300); // the answer is written, and more of it waits than the socket holds
        var body = new List<byte>();
        while (await client.ReadFrameAsync(TimeSpan.FromSeconds(10)) is { } f)
        {
            if (f.StreamId != 1)
                continue;
            if (f.Type == FrameType.Data)
                body.AddRange(f.Payload);
            if (f.Type == FrameType.Headers && (f.Flags & FrameFlags.EndStream) != 0)
            {
                Assert.Equal("0", client.DecodeHeaders(f.Payload)["grpc-status"]);
                break;
            }
        }
        Assert.Equal(framed, body.ToArray());
    }

    [Fact]
    public async Task ExpiredDeadlineFailsWithoutWaiting()
    {
        await using var fx = new RawServiceFixture();
        using var channel = new UnixChannel(fx.SocketPath);
        var e = await Assert.ThrowsAsync<RpcException>(() => Invoker(channel)
            .AsyncUnaryCall(RawServiceFixture.EchoMethod, null, new CallOptions(deadline: DateTime.UtcNow.AddSeconds(-1)), [1]).ResponseAsync);
        Assert.Equal(StatusCode.DeadlineExceeded, e.StatusCode);
    }

    [Fact]
    public async Task ChannelReconnectsAfterTheServerRestarts()
    {
        var fx = new RawServiceFixture();
        using var channel = new UnixChannel(fx.SocketPath);
        Assert.Equal([1], await Invoker(channel).AsyncUnaryCall(RawServiceFixture.EchoMethod, null, default, [1]).ResponseAsync);
        await fx.Server.ShutdownAsync(TimeSpan.FromSeconds(5));

        // While nobody listens, calls fail fast and say so.
        var down = await Assert.ThrowsAsync<RpcException>(() => Invoker(channel).AsyncUnaryCall(RawServiceFixture.EchoMethod, null, default, [2]).ResponseAsync);
        Assert.Equal(StatusCode.Unavailable, down.StatusCode);

        // A new server on the same path (as after a kubelet restart): the same channel works again.
        await using var again = new GrpcServer().AddService(b => b.AddMethod(RawServiceFixture.EchoMethod,
            (UnaryServerMethod<byte[], byte[]>)((r, c) => Task.FromResult(r.Reverse().ToArray()))));
        again.ListenUnix(fx.SocketPath);
        Assert.Equal([3, 2], await Invoker(channel).AsyncUnaryCall(RawServiceFixture.EchoMethod, null, default, [2, 3]).ResponseAsync);
        await fx.DisposeAsync();
    }

    [Fact]
    public async Task ConnectionLostMidCallIsUnavailable()
    {
        await using var fx = new RawServiceFixture();
        using var channel = new UnixChannel(fx.SocketPath);
        var call = Invoker(channel).AsyncUnaryCall(RawServiceFixture.SlowMethod, null, default, [200]).ResponseAsync;
        var deadline = DateTime.UtcNow.AddSeconds(5);
        while (fx.SlowStarted == 0 && DateTime.UtcNow < deadline)
            await Task.Delay(5);
        await fx.Server.ShutdownAsync(TimeSpan.Zero); // no grace: connections are cut
        var e = await Assert.ThrowsAsync<RpcException>(() => call);
        Assert.Equal(StatusCode.Unavailable, e.StatusCode);
    }

    [Fact]
    public async Task ClientWaitsForStreamSlotsInsteadOfBeingRefused()
    {
        await using var fx = new RawServiceFixture(new GrpcServerOptions { MaxConcurrentStreams = 2 });
        using var channel = new UnixChannel(fx.SocketPath);
        // Learn the server's SETTINGS first.
        await Invoker(channel).AsyncUnaryCall(RawServiceFixture.EchoMethod, null, default, [0]).ResponseAsync;
        var calls = Enumerable.Range(1, 10)
            .Select(i => Invoker(channel).AsyncUnaryCall(RawServiceFixture.SlowMethod, null, default, [(byte)5, (byte)i]).ResponseAsync)
            .ToArray();
        var replies = await Task.WhenAll(calls).WaitAsync(TimeSpan.FromSeconds(20));
        Assert.Equal(Enumerable.Range(1, 10).Select(i => (byte)i), replies.Select(r => r[1]));
    }

    [Fact]
    public async Task BlockingUnaryCallWorks()
    {
        await using var fx = new RawServiceFixture();
        using var channel = new UnixChannel(fx.SocketPath);
        var reply = await Task.Run(() => Invoker(channel).BlockingUnaryCall(RawServiceFixture.EchoMethod, null, default, [4, 2]));
        Assert.Equal([4, 2], reply);
    }
}

/// <summary>Flow control as users feel it: one stuck stream must not hold up the others on the same connection.</summary>
public sealed class SlowReaderTests
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task StreamWhoseHandlerNeverReadsDoesNotStallOtherCalls(bool ourClient)
    {
        // Connection window no bigger than the stream window: crediting it only on reads would let one stream block all.
        await using var fx = new RawServiceFixture(new GrpcServerOptions { StreamWindowSize = 64 * 1024, ConnectionWindowSize = 65535 });
        using var ours = new UnixChannel(fx.SocketPath);
        using var theirs = RawServiceFixture.GrpcNetChannel(fx.SocketPath);
        var invoker = ourClient ? ours.CreateCallInvoker() : theirs.CreateCallInvoker();

        using var cts = new CancellationTokenSource();
        using var hold = invoker.AsyncClientStreamingCall(RawServiceFixture.HoldMethod, null, new CallOptions(cancellationToken: cts.Token));
        await fx.HoldStarted.Task.WaitAsync(TimeSpan.FromSeconds(5));
        var chunk = new byte[32 * 1024];
        var stalled = false;
        for (var i = 0; i < 64 && !stalled; i++)
        {
            var write = hold.RequestStream.WriteAsync(chunk);
            stalled = await Task.WhenAny(write, Task.Delay(300)) != write;
        }
        Assert.True(stalled, "the writer should block once the stream window is used up");

        // The connection is shared, yet other calls go through at once.
        for (var i = 0; i < 20; i++)
        {
            var reply = await invoker.AsyncUnaryCall(RawServiceFixture.EchoMethod, null, new CallOptions(deadline: DateTime.UtcNow.AddSeconds(5)), [(byte)i]).ResponseAsync;
            Assert.Equal([(byte)i], reply);
        }
        cts.Cancel();
    }
}
