using System.Buffers.Binary;
using MetaGpu.Rpc.Http2;

namespace MetaGpu.Tests.Transport;

/// <summary>RFC 9113 behaviour of our server seen from the wire: flow control, frame sizes, settings, padding.</summary>
public sealed class Http2ConformanceTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(5);

    internal static byte[] Settings(params (SettingId Id, uint Value)[] settings)
    {
        var payload = new byte[settings.Length * 6];
        for (var i = 0; i < settings.Length; i++)
        {
            BinaryPrimitives.WriteUInt16BigEndian(payload.AsSpan(i * 6), (ushort)settings[i].Id);
            BinaryPrimitives.WriteUInt32BigEndian(payload.AsSpan(i * 6 + 2), settings[i].Value);
        }
        return payload;
    }

    internal static byte[] WindowUpdate(int increment)
    {
        var p = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(p, (uint)increment);
        return p;
    }

    [Fact]
    public async Task SettingsAreAcknowledged()
    {
        await using var fx = new RawServiceFixture();
        await using var client = await RawHttp2Client.ConnectAsync(fx.SocketPath);
        await client.SendPrefaceAsync();
        await client.SendFrameAsync(FrameType.Settings, FrameFlags.None, 0, Settings((SettingId.HeaderTableSize, 0), (SettingId.EnablePush, 0)));
        var ack = await client.ReadUntilAsync(f => f.Type == FrameType.Settings && f.Flags == FrameFlags.Ack, Wait);
        Assert.NotNull(ack);
        Assert.Empty(ack.Payload);
    }

    [Fact]
    public async Task ServerNeverSendsPastTheWindowAndAppliesInitialWindowChangesToOpenStreams()
    {
        await using var fx = new RawServiceFixture();
        await using var client = await RawHttp2Client.ConnectAsync(fx.SocketPath);
        await client.SendPrefaceAsync();
        // A tiny stream window and an invitation to send huge frames, which must be declined (16384 at most).
        await client.SendFrameAsync(FrameType.Settings, FrameFlags.None, 0, Settings((SettingId.InitialWindowSize, 1000), (SettingId.MaxFrameSize, 1 << 20)));
        await client.SendFrameAsync(FrameType.WindowUpdate, FrameFlags.None, 0, WindowUpdate(10_000_000));

        var payload = new byte[100_000];
        new Random(7).NextBytes(payload);
        await client.SendFrameAsync(FrameType.Headers, FrameFlags.EndHeaders, 1, client.RequestHeaderBlock("/test.Raw/Echo"));
        var message = RawHttp2Client.GrpcMessage(payload);
        for (var offset = 0; offset < message.Length; offset += 16384)
        {
            var chunk = message.AsSpan(offset, Math.Min(16384, message.Length - offset)).ToArray();
            await client.SendFrameAsync(FrameType.Data, offset + 16384 >= message.Length ? FrameFlags.EndStream : FrameFlags.None, 1, chunk);
        }

        var received = new List<byte>();
        async Task<int> DrainAsync(TimeSpan quiet)
        {
            var got = 0;
            while (await client.ReadFrameAsync(quiet) is { } f)
            {
                Assert.True(f.Payload.Length <= 16384, $"frame of {f.Payload.Length} bytes");
                if (f.Type == FrameType.Data && f.StreamId == 1)
                {
                    received.AddRange(f.Payload);
                    got += f.Payload.Length;
                }
            }
            return got;
        }

        Assert.Equal(1000, await DrainAsync(TimeSpan.FromMilliseconds(500)));
        await client.SendFrameAsync(FrameType.WindowUpdate, FrameFlags.None, 1, WindowUpdate(5000));
        Assert.Equal(5000, await DrainAsync(TimeSpan.FromMilliseconds(500)));
        // Raising SETTINGS_INITIAL_WINDOW_SIZE adds the difference to the open stream's window (RFC 9113 6.9.2).
        await client.SendFrameAsync(FrameType.Settings, FrameFlags.None, 0, Settings((SettingId.InitialWindowSize, 1000 + 200_000)));
        await DrainAsync(TimeSpan.FromMilliseconds(500));
        Assert.Equal(message.Length, received.Count);
        Assert.Equal(message, received.ToArray());
    }

    [Fact]
    public async Task PaddingPriorityAndContinuationAreAccepted()
    {
        await using var fx = new RawServiceFixture();
        await using var client = await RawHttp2Client.ConnectAsync(fx.SocketPath);
        await client.HandshakeAsync();
        var block = client.RequestHeaderBlock("/test.Raw/Echo", ("x-pad", new string('p', 100)));

        // HEADERS with PADDED and PRIORITY, the block split over a CONTINUATION.
        var first = new List<byte> { 3 };                  // pad length
        first.AddRange(new byte[] { 0, 0, 0, 0, 16 });    // stream dependency 0, weight 16
        first.AddRange(block[..10]);
        first.AddRange(new byte[3]);                      // padding
        await client.SendFrameAsync(FrameType.Headers, FrameFlags.Padded | FrameFlags.Priority, 1, [.. first]);
        await client.SendFrameAsync(FrameType.Continuation, FrameFlags.EndHeaders, 1, block[10..]);
        await client.SendFrameAsync(FrameType.Priority, FrameFlags.None, 1, [0, 0, 0, 0, 200]);

        var message = RawHttp2Client.GrpcMessage([9, 8, 7]);
        var data = new List<byte> { 20 };
        data.AddRange(message);
        data.AddRange(new byte[20]);
        await client.SendFrameAsync(FrameType.Data, FrameFlags.Padded | FrameFlags.EndStream, 1, [.. data]);

        var dataFrame = await client.ReadUntilAsync(f => f.Type == FrameType.Data && f.StreamId == 1, Wait);
        Assert.Equal(message, dataFrame?.Payload);
        var trailers = await client.ReadUntilAsync(f => f.Type == FrameType.Headers && (f.Flags & FrameFlags.EndStream) != 0, Wait);
        Assert.NotNull(trailers);
    }

    [Fact]
    public async Task GracefulShutdownLetsInFlightCallsFinishAndRefusesNewOnes()
    {
        var fx = new RawServiceFixture();
        try
        {
            using var channel = RawServiceFixture.GrpcNetChannel(fx.SocketPath);
            var invoker = channel.CreateCallInvoker();
            var inFlight = invoker.AsyncUnaryCall(RawServiceFixture.SlowMethod, null, default, [50]).ResponseAsync; // 500 ms
            var deadline = DateTime.UtcNow.AddSeconds(5);
            while (fx.SlowStarted == 0 && DateTime.UtcNow < deadline)
                await Task.Delay(5);
            Assert.Equal(1, fx.SlowStarted);

            var shutdown = fx.Server.ShutdownAsync(TimeSpan.FromSeconds(10));
            Assert.False(File.Exists(fx.SocketPath), "the socket file must go at once, so nobody new connects");
            Assert.Equal([50], await inFlight);
            await shutdown.WaitAsync(Wait);
            Assert.Equal(0, fx.Server.ConnectionCount);

            var e = await Assert.ThrowsAsync<Grpc.Core.RpcException>(() => invoker.AsyncUnaryCall(RawServiceFixture.EchoMethod, null, default, [1]).ResponseAsync);
            Assert.Equal(Grpc.Core.StatusCode.Unavailable, e.StatusCode);
        }
        finally
        {
            await fx.DisposeAsync();
        }
    }

    [Fact]
    public async Task GoAwayNamesTheLastStreamAndLaterStreamsAreRefused()
    {
        await using var fx = new RawServiceFixture();
        await using var client = await RawHttp2Client.ConnectAsync(fx.SocketPath);
        await client.HandshakeAsync();
        await client.SendFrameAsync(FrameType.Headers, FrameFlags.EndHeaders, 1, client.RequestHeaderBlock("/test.Raw/Slow"));
        await client.SendFrameAsync(FrameType.Data, FrameFlags.EndStream, 1, RawHttp2Client.GrpcMessage([200])); // 2 s: outlives the steps below
        var deadline = DateTime.UtcNow.AddSeconds(5);
        while (fx.SlowStarted == 0 && DateTime.UtcNow < deadline)
            await Task.Delay(5);

        var shutdown = fx.Server.ShutdownAsync(TimeSpan.FromSeconds(10));
        var goAway = await client.ReadUntilAsync(f => f.Type == FrameType.GoAway, Wait);
        Assert.Equal(Http2ErrorCode.NoError, goAway?.GoAwayCode);
        Assert.Equal(1, (int)BinaryPrimitives.ReadUInt32BigEndian(goAway!.Payload));

        await client.SendFrameAsync(FrameType.Headers, FrameFlags.EndHeaders | FrameFlags.EndStream, 3, client.RequestHeaderBlock("/test.Raw/Echo"));
        var frames = new List<RawFrame>();
        while (await client.ReadFrameAsync(Wait) is { } f)
            frames.Add(f);
        Assert.Contains(frames, f => f.Type == FrameType.RstStream && f.StreamId == 3 && f.RstCode == Http2ErrorCode.RefusedStream);
        Assert.Contains(frames, f => f.Type == FrameType.Headers && f.StreamId == 1 && (f.Flags & FrameFlags.EndStream) != 0);
        await shutdown.WaitAsync(Wait);
    }
}
