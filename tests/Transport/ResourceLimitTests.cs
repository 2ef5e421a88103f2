using System.Buffers.Binary;
using Grpc.Core;
using MetaGpu.Rpc.Grpc;
using MetaGpu.Rpc.Http2;

namespace MetaGpu.Tests.Transport;

/// <summary>
/// Peers that hold on to what we give them: connections that only sit there, streams opened and reset in a loop,
/// messages that stop half-way, pings whose answers are never read. Each test uses small limits of its own and
/// checks both the hostile peer's answer and that a fresh client is still served.
/// </summary>
public sealed class ResourceLimitTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);

    private static async Task<RawHttp2Client> HandshakenAsync(string path)
    {
        var client = await RawHttp2Client.ConnectAsync(path);
        await client.HandshakeAsync();
        return client;
    }

    private static bool IsEndOf(RawFrame f, int streamId) =>
        f.StreamId == streamId && (f.Type == FrameType.RstStream || (f.Type == FrameType.Headers && (f.Flags & FrameFlags.EndStream) != 0));

    [Fact]
    public async Task AtTheConnectionCapTheIdlestConnectionMakesRoomButOneWithACallStays()
    {
        const int cap = 8;
        await using var fx = new RawServiceFixture(new GrpcServerOptions { MaxConnections = cap, IdleTimeout = Timeout.InfiniteTimeSpan });
        // The oldest connection has a call open (a ListAndWatch stand-in): it must never be the one evicted.
        await using var busy = await HandshakenAsync(fx.SocketPath);
        await busy.SendFrameAsync(FrameType.Headers, FrameFlags.EndHeaders, 1, busy.RequestHeaderBlock("/test.Raw/Hold"));
        await fx.HoldStarted.Task.WaitAsync(Wait);

        var idle = new List<RawHttp2Client>();
        try
        {
            for (var i = 0; i < cap + 2; i++)
                idle.Add(await HandshakenAsync(fx.SocketPath));
            await Task.Delay(100);
            for (var i = 0; i < 3; i++)
                await fx.AssertServesFreshClientAsync();
            // Idle connections were closed to make room (3 while they were opened, one per fresh client); the busy one is still served.
            var evicted = 0;
            foreach (var c in idle)
            {
                if (await c.WaitForCloseAsync(TimeSpan.FromMilliseconds(300)))
                    evicted++;
            }
            Assert.True(evicted >= 3, $"only {evicted} idle connections were closed at the cap");
            await busy.SendFrameAsync(FrameType.Ping, FrameFlags.None, 0, [9, 9, 9, 9, 9, 9, 9, 9]);
            var ack = await busy.ReadUntilAsync(f => f.Type == FrameType.Ping || f.Type == FrameType.GoAway, Wait);
            Assert.Equal(FrameType.Ping, ack?.Type);
            Assert.True(fx.Server.ConnectionCount <= cap + 1, $"{fx.Server.ConnectionCount} connections open with a cap of {cap}");
        }
        finally
        {
            foreach (var c in idle)
                await c.DisposeAsync();
        }
    }

    [Fact]
    public async Task IdleConnectionIsClosedAfterTheIdleTimeoutButNotOneWithASilentCall()
    {
        await using var fx = new RawServiceFixture(new GrpcServerOptions { IdleTimeout = TimeSpan.FromMilliseconds(300) });
        await using var idle = await HandshakenAsync(fx.SocketPath);
        await using var busy = await HandshakenAsync(fx.SocketPath);
        await busy.SendFrameAsync(FrameType.Headers, FrameFlags.EndHeaders, 1, busy.RequestHeaderBlock("/test.Raw/Hold"));
        await fx.HoldStarted.Task.WaitAsync(Wait);

        var goAway = await idle.ReadUntilAsync(f => f.Type == FrameType.GoAway, Wait);
        Assert.Equal(Http2ErrorCode.NoError, goAway?.GoAwayCode);
        Assert.True(await idle.WaitForCloseAsync(Wait));

        // Many idle timeouts later, the connection with an open (silent) stream is still there and answers.
        await Task.Delay(1500);
        await busy.SendFrameAsync(FrameType.Ping, FrameFlags.None, 0, [1, 2, 3, 4, 5, 6, 7, 8]);
        var ack = await busy.ReadUntilAsync(f => f.Type is FrameType.Ping or FrameType.GoAway, Wait);
        Assert.Equal(FrameType.Ping, ack?.Type);
        await fx.AssertServesFreshClientAsync();
    }

    [Fact]
    public async Task RapidResetGetsEnhanceYourCalmWhileAnotherClientIsServed()
    {
        await using var fx = new RawServiceFixture(new GrpcServerOptions { MaxResetsPerInterval = 50, ResetInterval = TimeSpan.FromSeconds(10) });
        await using var attacker = await HandshakenAsync(fx.SocketPath);
        var block = attacker.RequestHeaderBlock("/test.Raw/Slow");
        var rst = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(rst, (uint)Http2ErrorCode.Cancel);
        var closed = false;
        for (var id = 1; id < 2 * 2000 && !closed; id += 2)
        {
            try
            {
                // HEADERS then RST_STREAM at once, in one write: the CVE-2023-44487 pattern.
                await attacker.SendAsync(RawHttp2Client.Frame(FrameType.Headers, FrameFlags.EndHeaders, id, block)
                    .Concat(RawHttp2Client.Frame(FrameType.RstStream, FrameFlags.None, id, rst)).ToArray());
            }
            catch (System.Net.Sockets.SocketException)
            {
                closed = true;
            }
        }
        var goAway = await attacker.ReadUntilAsync(f => f.Type == FrameType.GoAway, Wait);
        Assert.NotNull(goAway);
        Assert.Equal(Http2ErrorCode.EnhanceYourCalm, goAway.GoAwayCode);
        Assert.Contains("reset", goAway.GoAwayDebug);
        await fx.AssertServesFreshClientAsync();
    }

    [Fact]
    public async Task AFewCancelledCallsAreNotRapidReset()
    {
        await using var fx = new RawServiceFixture(new GrpcServerOptions { MaxResetsPerInterval = 50, ResetInterval = TimeSpan.FromSeconds(10) });
        await using var client = await HandshakenAsync(fx.SocketPath);
        var rst = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(rst, (uint)Http2ErrorCode.Cancel);
        for (var id = 1; id < 2 * 40; id += 2)
        {
            await client.SendFrameAsync(FrameType.Headers, FrameFlags.EndHeaders, id, client.RequestHeaderBlock("/test.Raw/Slow"));
            await client.SendFrameAsync(FrameType.RstStream, FrameFlags.None, id, rst);
        }
        await client.SendFrameAsync(FrameType.Headers, FrameFlags.EndHeaders, 101, client.RequestHeaderBlock("/test.Raw/Echo"));
        await client.SendFrameAsync(FrameType.Data, FrameFlags.EndStream, 101, RawHttp2Client.GrpcMessage([5]));
        var end = await client.ReadUntilAsync(f => f.Type == FrameType.GoAway || IsEndOf(f, 101), Wait);
        Assert.Equal(FrameType.Headers, end?.Type);
    }

    [Theory]
    [InlineData("1194H")]
    [InlineData("99999999H")]
    [InlineData("99999999S")]
    [InlineData("99999999M")]
    public async Task TimeoutBeyondWhatATimerHoldsMeansNoDeadline(string timeout)
    {
        await using var fx = new RawServiceFixture();
        await using var client = await HandshakenAsync(fx.SocketPath);
        await client.SendFrameAsync(FrameType.Headers, FrameFlags.EndHeaders, 1, client.RequestHeaderBlock("/test.Raw/Echo", ("grpc-timeout", timeout)));
        await client.SendFrameAsync(FrameType.Data, FrameFlags.EndStream, 1, RawHttp2Client.GrpcMessage([4, 2]));
        RawFrame? end = null;
        while ((end = await client.ReadUntilAsync(f => f.Type is FrameType.Headers or FrameType.RstStream or FrameType.GoAway, Wait)) is { Type: FrameType.Headers } f
               && (f.Flags & FrameFlags.EndStream) == 0)
        {
            client.DecodeHeaders(f.Payload); // the response headers; the status follows
        }
        Assert.NotNull(end);
        Assert.Equal(FrameType.Headers, end.Type);
        Assert.Equal("0", client.DecodeHeaders(end.Payload)["grpc-status"]);
    }

    [Fact]
    public async Task ClientDeadlineBeyondWhatATimerHoldsMeansNoDeadline()
    {
        await using var fx = new RawServiceFixture();
        using var channel = new UnixChannel(fx.SocketPath);
        var reply = await channel.CreateCallInvoker().AsyncUnaryCall(RawServiceFixture.EchoMethod, null,
            new CallOptions(deadline: DateTime.UtcNow.AddDays(400)), [3, 1, 4]);
        Assert.Equal(new byte[] { 3, 1, 4 }, reply);
    }

    [Fact]
    public async Task StalledMessageIsResetAfterTheAssemblyTimeoutButAStreamWaitingForOneIsNot()
    {
        await using var fx = new RawServiceFixture(new GrpcServerOptions { MessageAssemblyTimeout = TimeSpan.FromMilliseconds(300) });
        await using var client = await HandshakenAsync(fx.SocketPath);

        // Stream 1 opens and says nothing yet: waiting for a first message is not a stalled message.
        await client.SendFrameAsync(FrameType.Headers, FrameFlags.EndHeaders, 1, client.RequestHeaderBlock("/test.Raw/Echo"));
        // Stream 3 announces 1000 bytes and sends 10.
        var partial = RawHttp2Client.GrpcMessage(new byte[1000]).AsSpan(0, 15).ToArray();
        await client.SendFrameAsync(FrameType.Headers, FrameFlags.EndHeaders, 3, client.RequestHeaderBlock("/test.Raw/Echo"));
        await client.SendFrameAsync(FrameType.Data, FrameFlags.None, 3, partial);

        var reset = await client.ReadUntilAsync(f => f.Type == FrameType.GoAway || IsEndOf(f, 1) || IsEndOf(f, 3), Wait);
        Assert.NotNull(reset);
        Assert.Equal(FrameType.RstStream, reset.Type);
        Assert.Equal(3, reset.StreamId);
        Assert.Equal(Http2ErrorCode.Cancel, reset.RstCode);

        // Long after the timeout, stream 1 gets its message and is answered.
        await Task.Delay(1000);
        await client.SendFrameAsync(FrameType.Data, FrameFlags.EndStream, 1, RawHttp2Client.GrpcMessage([7]));
        RawFrame? end;
        while ((end = await client.ReadUntilAsync(f => f.Type == FrameType.GoAway || (f.StreamId == 1 && f.Type is FrameType.Headers or FrameType.RstStream), Wait)) is { Type: FrameType.Headers } f
               && (f.Flags & FrameFlags.EndStream) == 0)
        {
            client.DecodeHeaders(f.Payload);
        }
        Assert.NotNull(end);
        Assert.Equal(FrameType.Headers, end.Type);
        Assert.Equal("0", client.DecodeHeaders(end.Payload)["grpc-status"]);
    }

    [Fact]
    public async Task PartialMessagesOnTwoServersAreBoundedByTheSharedBudget()
    {
        var budget = new MemoryBudget(2 * 1024 * 1024);
        var options = new GrpcServerOptions
        {
            MemoryBudget = budget,
            MaxConnectionBufferedBytes = 1024 * 1024,
            MessageAssemblyTimeout = Timeout.InfiniteTimeSpan,
        };
        await using var first = new RawServiceFixture(options);
        await using var second = new RawServiceFixture(options);
        var clients = new List<RawHttp2Client>();
        var refused = 0;
        try
        {
            // 2 servers x 3 connections x 4 streams, each with 256 KiB of a 3 MiB message: 6 MiB asked, 2 MiB allowed.
            foreach (var fx in new[] { first, second })
            {
                for (var c = 0; c < 3; c++)
                {
                    var client = await HandshakenAsync(fx.SocketPath);
                    clients.Add(client);
                    for (var id = 1; id <= 7; id += 2)
                    {
                        await client.SendFrameAsync(FrameType.Headers, FrameFlags.EndHeaders, id, client.RequestHeaderBlock("/test.Raw/Echo"));
                        var message = RawHttp2Client.GrpcMessage(new byte[3 * 1024 * 1024]);
                        for (var sent = 0; sent < 256 * 1024; sent += 16 * 1024)
                            await client.SendFrameAsync(FrameType.Data, FrameFlags.None, id, message.AsSpan(sent, 16 * 1024).ToArray());
                        AssertWithinBudget(budget);
                    }
                }
            }
            var filled = DateTime.UtcNow + Wait;
            while (budget.Current <= budget.Limit / 2 && DateTime.UtcNow < filled)
            {
                AssertWithinBudget(budget);
                await Task.Delay(20);
            }
            AssertWithinBudget(budget);
            Assert.True(budget.Current > budget.Limit / 2, $"the partial messages should fill the budget (holds {budget.Current})");

            // The hoarders are told: RESOURCE_EXHAUSTED for a message, or the stream reset.
            foreach (var client in clients)
            {
                while (await client.ReadFrameAsync(TimeSpan.FromMilliseconds(300)) is { } f)
                {
                    if (f.Type == FrameType.Headers)
                    {
                        var fields = client.DecodeHeaders(f.Payload);
                        if (fields.TryGetValue("grpc-status", out var status) && status == ((int)StatusCode.ResourceExhausted).ToString())
                            refused++;
                    }
                    else if (f.Type == FrameType.RstStream && f.RstCode is Http2ErrorCode.EnhanceYourCalm or Http2ErrorCode.RefusedStream)
                    {
                        refused++;
                    }
                }
            }
            Assert.True(refused > 0, "no stream was refused although the budget was full");
            Assert.True(budget.Refusals > 0);

            // A fresh client with a small call is still served by both.
            await first.AssertServesFreshClientAsync();
            await second.AssertServesFreshClientAsync();
        }
        finally
        {
            foreach (var c in clients)
                await c.DisposeAsync();
        }
        // Everything is given back once the hoarders are gone.
        var deadline = DateTime.UtcNow + Wait;
        while (budget.Current > 0 && DateTime.UtcNow < deadline)
            await Task.Delay(20);
        Assert.Equal(0, budget.Current);
    }

    /// <summary>Input is refused past the limit; output already queued is counted as it is (a few frame buffers), so allow those.</summary>
    private static void AssertWithinBudget(MemoryBudget budget) =>
        Assert.True(budget.Current <= budget.Limit + 256 * 1024, $"budget at {budget.Current} bytes, limit {budget.Limit}");

    [Fact]
    public async Task PingFlooderThatNeverReadsIsNotQueuedForWithoutBound()
    {
        var budget = new MemoryBudget(64 * 1024 * 1024);
        await using var fx = new RawServiceFixture(new GrpcServerOptions { MemoryBudget = budget });
        await using var flooder = await HandshakenAsync(fx.SocketPath);
        var pings = Enumerable.Range(0, 1000).SelectMany(_ => RawHttp2Client.Frame(FrameType.Ping, FrameFlags.None, 0, new byte[8])).ToArray();
        var peak = 0L;
        var sentBytes = 0L;
        // 40 MB of pings at most, and 20 s at most; the server's answers (as many bytes) are never read.
        var until = DateTime.UtcNow.AddSeconds(20);
        var hungUp = false;
        while (sentBytes < 40_000_000 && DateTime.UtcNow < until)
        {
            var send = flooder.SendAsync(pings);
            if (await Task.WhenAny(send, Task.Delay(1000)) != send)
                break; // the server stopped reading us: that is the point
            try
            {
                await send;
            }
            catch (System.Net.Sockets.SocketException)
            {
                hungUp = true; // it queued answers until it gave up on us
                break;
            }
            sentBytes += pings.Length;
            peak = Math.Max(peak, budget.Current);
        }
        peak = Math.Max(peak, budget.Current);
        Assert.False(hungUp, $"the server read {sentBytes} bytes of pings, then hung up");
        // Socket buffers on both sides hold a few hundred KB; before the fix the server read 12 MB per connection.
        Assert.True(sentBytes < 4_000_000, $"the server read {sentBytes} bytes of pings whose answers were not read");
        Assert.True(peak < 1024 * 1024, $"{peak} bytes queued for a peer that does not read");
        // Stalled, not cut off: once the peer reads its answers, the connection carries on.
        Assert.False(await flooder.WaitForCloseAsync(TimeSpan.FromMilliseconds(500)));
        await fx.AssertServesFreshClientAsync();
    }
}

/// <summary>The collection after a burst needs the process to be quiet: it runs with no other test alongside.</summary>
[Collection(HeapMeasurementCollection.Name)]
public sealed class IdleCompactionTests
{
    [Fact]
    public async Task ABurstOfCallsIsFollowedByOneCompactingCollectionOnceQuiet()
    {
        await using var fx = new RawServiceFixture(new GrpcServerOptions { IdleCompactionDelay = TimeSpan.FromMilliseconds(200) });
        using var channel = new UnixChannel(fx.SocketPath);
        var invoker = channel.CreateCallInvoker();
        var before = IdleCompaction.Collections;
        for (var i = 0; i < 200; i++)
            await invoker.AsyncUnaryCall(RawServiceFixture.EchoMethod, null, default, new byte[1024]);
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (IdleCompaction.Collections == before && DateTime.UtcNow < deadline)
            await Task.Delay(50);
        Assert.True(IdleCompaction.Collections > before, "no compacting collection followed the burst");
        // Once per burst: a quiet process is not collected again and again (a timer that re-armed itself would collect
        // five times in this second at a 200 ms delay). At most one more is allowed: the process is shared with the rest
        // of the suite, and a connection of an earlier test that closes now is activity of its own (seen in CI).
        var after = IdleCompaction.Collections;
        await Task.Delay(1000);
        Assert.True(IdleCompaction.Collections - after <= 1, $"{IdleCompaction.Collections - after} collections in a quiet second");
    }
}
