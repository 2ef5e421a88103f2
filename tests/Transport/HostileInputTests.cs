using System.Buffers.Binary;
using Grpc.Core;
using MetaGpu.Rpc.Grpc;
using MetaGpu.Rpc.Http2;

namespace MetaGpu.Tests.Transport;

/// <summary>
/// Peers that break the protocol, on purpose. Each test checks the server's answer (the right GOAWAY or
/// RST_STREAM code, or a closed connection) and then that it still serves a normal call from a fresh client.
/// </summary>
public sealed class HostileInputTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(5);

    private static async Task<RawFrame?> ExpectGoAwayAsync(RawHttp2Client client)
        => await client.ReadUntilAsync(f => f.Type == FrameType.GoAway, Wait);

    [Fact]
    public async Task GarbageInsteadOfPrefaceIsRefusedAtOnce()
    {
        await using var fx = new RawServiceFixture();
        await using var client = await RawHttp2Client.ConnectAsync(fx.SocketPath);
        await client.SendAsync("GET / HTTP/1.1\r\nHost: x\r\n\r\n"u8.ToArray());
        var goAway = await ExpectGoAwayAsync(client);
        Assert.NotNull(goAway);
        Assert.Equal(Http2ErrorCode.ProtocolError, goAway.GoAwayCode);
        Assert.Contains("preface", goAway.GoAwayDebug);
        Assert.True(await client.WaitForCloseAsync(Wait));
        await fx.AssertServesFreshClientAsync();
    }

    [Fact]
    public async Task FirstFrameMustBeSettings()
    {
        await using var fx = new RawServiceFixture();
        await using var client = await RawHttp2Client.ConnectAsync(fx.SocketPath);
        await client.SendPrefaceAsync();
        await client.SendFrameAsync(FrameType.Ping, FrameFlags.None, 0, new byte[8]);
        var goAway = await ExpectGoAwayAsync(client);
        Assert.Equal(Http2ErrorCode.ProtocolError, goAway?.GoAwayCode);
        await fx.AssertServesFreshClientAsync();
    }

    [Fact]
    public async Task TruncatedFramesThenDisconnectLeaveNoTrace()
    {
        await using var fx = new RawServiceFixture();
        for (var cut = 1; cut < 9; cut++)
        {
            await using var client = await RawHttp2Client.ConnectAsync(fx.SocketPath);
            await client.HandshakeAsync();
            var frame = RawHttp2Client.Frame(FrameType.Headers, FrameFlags.EndHeaders, 1, client.RequestHeaderBlock("/test.Raw/Echo"));
            await client.SendAsync(frame.AsMemory(0, cut));
        }
        // A frame header that promises more payload than ever arrives.
        await using (var client = await RawHttp2Client.ConnectAsync(fx.SocketPath))
        {
            await client.HandshakeAsync();
            await client.SendAsync(RawHttp2Client.Frame(FrameType.Data, FrameFlags.None, 1, new byte[10], declaredLength: 1000));
        }
        await fx.AssertServesFreshClientAsync();
        await WaitForConnectionsAsync(fx.Server, 0);
    }

    [Fact]
    public async Task FrameOverTheSizeLimitIsAConnectionError()
    {
        await using var fx = new RawServiceFixture();
        await using var client = await RawHttp2Client.ConnectAsync(fx.SocketPath);
        await client.HandshakeAsync();
        await client.SendAsync(RawHttp2Client.Frame(FrameType.Data, FrameFlags.None, 1, new byte[16385]));
        var goAway = await ExpectGoAwayAsync(client);
        Assert.Equal(Http2ErrorCode.FrameSizeError, goAway?.GoAwayCode);
        await fx.AssertServesFreshClientAsync();
    }

    [Fact]
    public async Task BadHpackIndexIsACompressionError()
    {
        await using var fx = new RawServiceFixture();
        await using var client = await RawHttp2Client.ConnectAsync(fx.SocketPath);
        await client.HandshakeAsync();
        // Indexed field 0x7f + 1000: far past the static table and the (empty) dynamic table.
        await client.SendFrameAsync(FrameType.Headers, FrameFlags.EndHeaders | FrameFlags.EndStream, 1, [0xff, 0xe9, 0x07]);
        var goAway = await ExpectGoAwayAsync(client);
        Assert.Equal(Http2ErrorCode.CompressionError, goAway?.GoAwayCode);
        await fx.AssertServesFreshClientAsync();
    }

    [Fact]
    public async Task HeadersOnStreamZeroIsAProtocolError()
    {
        await using var fx = new RawServiceFixture();
        await using var client = await RawHttp2Client.ConnectAsync(fx.SocketPath);
        await client.HandshakeAsync();
        await client.SendFrameAsync(FrameType.Headers, FrameFlags.EndHeaders, 0, client.RequestHeaderBlock("/test.Raw/Echo"));
        var goAway = await ExpectGoAwayAsync(client);
        Assert.Equal(Http2ErrorCode.ProtocolError, goAway?.GoAwayCode);
        await fx.AssertServesFreshClientAsync();
    }

    [Fact]
    public async Task DataPastTheStreamWindowResetsOnlyThatStream()
    {
        const int window = 64 * 1024;
        await using var fx = new RawServiceFixture(new GrpcServerOptions { StreamWindowSize = window });
        await using var client = await RawHttp2Client.ConnectAsync(fx.SocketPath);
        await client.HandshakeAsync();
        // /Hold never reads its request, so nothing replenishes the stream window.
        await client.SendFrameAsync(FrameType.Headers, FrameFlags.EndHeaders, 1, client.RequestHeaderBlock("/test.Raw/Hold"));
        await fx.HoldStarted.Task.WaitAsync(Wait);
        for (var sent = 0; sent <= window; sent += 16384)
            await client.SendFrameAsync(FrameType.Data, FrameFlags.None, 1, new byte[16384]);
        var rst = await client.ReadUntilAsync(f => f.Type is FrameType.RstStream or FrameType.GoAway, Wait);
        Assert.NotNull(rst);
        Assert.Equal(FrameType.RstStream, rst.Type);
        Assert.Equal(1, rst.StreamId);
        Assert.Equal(Http2ErrorCode.FlowControlError, rst.RstCode);

        // The same connection keeps working for other streams.
        await client.SendFrameAsync(FrameType.Headers, FrameFlags.EndHeaders, 3, client.RequestHeaderBlock("/test.Raw/Echo"));
        await client.SendFrameAsync(FrameType.Data, FrameFlags.EndStream, 3, RawHttp2Client.GrpcMessage([7, 7]));
        var trailers = await client.ReadUntilAsync(f => f.Type == FrameType.Headers && f.StreamId == 3 && (f.Flags & FrameFlags.EndStream) != 0, Wait);
        Assert.NotNull(trailers);
        await fx.AssertServesFreshClientAsync();
    }

    [Fact]
    public async Task ClientResetWithNoErrorCancelsTheServerCall()
    {
        // Found by fuzzing (fuzz/regressions/http2/listandwatch-rst-stream-no-error): RST_STREAM(NO_ERROR) after the
        // request ended was treated as "response complete, keep the request readable", which is the client's rule
        // (RFC 9113 8.1). On the server it left the handler running, and its next write failed with an error log.
        await using var fx = new RawServiceFixture();
        await using var client = await RawHttp2Client.ConnectAsync(fx.SocketPath);
        await client.HandshakeAsync();
        await client.SendFrameAsync(FrameType.Headers, FrameFlags.EndHeaders, 1, client.RequestHeaderBlock("/test.Raw/Hold"));
        await client.SendFrameAsync(FrameType.Data, FrameFlags.EndStream, 1, RawHttp2Client.GrpcMessage([1]));
        await fx.HoldStarted.Task.WaitAsync(Wait);
        var noError = new byte[4];
        await client.SendFrameAsync(FrameType.RstStream, FrameFlags.None, 1, noError);
        await fx.HoldEnded.Task.WaitAsync(Wait);
        await fx.AssertServesFreshClientAsync();
    }

    [Fact]
    public async Task EndlessContinuationIsCutOff()
    {
        await using var fx = new RawServiceFixture();
        await using var client = await RawHttp2Client.ConnectAsync(fx.SocketPath);
        await client.HandshakeAsync();
        var block = client.RequestHeaderBlock("/test.Raw/Echo");
        await client.SendFrameAsync(FrameType.Headers, FrameFlags.None, 1, block[..4]);
        RawFrame? goAway = null;
        var filler = new byte[1000];
        for (var i = 0; i < 10_000 && goAway is null; i++)
        {
            try
            {
                await client.SendFrameAsync(FrameType.Continuation, FrameFlags.None, 1, i % 2 == 0 ? filler : []);
            }
            catch (System.Net.Sockets.SocketException)
            {
                break; // the server hung up on us
            }
        }
        goAway = await ExpectGoAwayAsync(client);
        Assert.Equal(Http2ErrorCode.EnhanceYourCalm, goAway?.GoAwayCode);
        await fx.AssertServesFreshClientAsync();
    }

    [Fact]
    public async Task PrefaceThenSilenceDoesNotBlockOthers()
    {
        await using var fx = new RawServiceFixture();
        await using var silent = await RawHttp2Client.ConnectAsync(fx.SocketPath);
        await silent.HandshakeAsync();
        await using var mute = await RawHttp2Client.ConnectAsync(fx.SocketPath); // not even a preface
        await fx.AssertServesFreshClientAsync();
        // The silent (but well-formed) connection is not closed on a timer: kubelets keep ListAndWatch idle for hours.
        var settings = await silent.ReadUntilAsync(f => f.Type == FrameType.Settings && (f.Flags & FrameFlags.Ack) == 0, Wait);
        Assert.NotNull(settings);
        Assert.False(await silent.WaitForCloseAsync(TimeSpan.FromMilliseconds(300)));
    }

    [Fact]
    public async Task ConnectionWithoutHandshakeIsClosedAfterTheTimeout()
    {
        await using var fx = new RawServiceFixture(new GrpcServerOptions { HandshakeTimeout = TimeSpan.FromMilliseconds(300) });
        await using var mute = await RawHttp2Client.ConnectAsync(fx.SocketPath);
        var goAway = await ExpectGoAwayAsync(mute);
        Assert.Equal(Http2ErrorCode.SettingsTimeout, goAway?.GoAwayCode);
        Assert.True(await mute.WaitForCloseAsync(Wait));
        await fx.AssertServesFreshClientAsync();
    }

    [Fact]
    public async Task PingIsAnsweredAndWindowUpdateZeroIsAnError()
    {
        await using var fx = new RawServiceFixture();
        await using var client = await RawHttp2Client.ConnectAsync(fx.SocketPath);
        await client.HandshakeAsync();
        byte[] opaque = [1, 2, 3, 4, 5, 6, 7, 8];
        await client.SendFrameAsync(FrameType.Ping, FrameFlags.None, 0, opaque);
        var ack = await client.ReadUntilAsync(f => f.Type == FrameType.Ping, Wait);
        Assert.NotNull(ack);
        Assert.Equal(FrameFlags.Ack, ack.Flags);
        Assert.Equal(opaque, ack.Payload);

        await client.SendFrameAsync(FrameType.WindowUpdate, FrameFlags.None, 0, new byte[4]);
        var goAway = await ExpectGoAwayAsync(client);
        Assert.Equal(Http2ErrorCode.ProtocolError, goAway?.GoAwayCode);
        await fx.AssertServesFreshClientAsync();
    }

    [Fact]
    public async Task StreamsPastTheConcurrencyLimitAreRefused()
    {
        await using var fx = new RawServiceFixture(new GrpcServerOptions { MaxConcurrentStreams = 2 });
        await using var client = await RawHttp2Client.ConnectAsync(fx.SocketPath);
        await client.HandshakeAsync();
        var settings = await client.ReadUntilAsync(f => f.Type == FrameType.Settings && (f.Flags & FrameFlags.Ack) == 0, Wait);
        Assert.Equal(2u, ReadSetting(settings!.Payload, SettingId.MaxConcurrentStreams));
        foreach (var id in new[] { 1, 3, 5 })
            await client.SendFrameAsync(FrameType.Headers, FrameFlags.EndHeaders, id, client.RequestHeaderBlock("/test.Raw/Hold"));
        var rst = await client.ReadUntilAsync(f => f.Type == FrameType.RstStream, Wait);
        Assert.Equal(5, rst?.StreamId);
        Assert.Equal(Http2ErrorCode.RefusedStream, rst?.RstCode);
    }

    [Fact]
    public async Task OversizedRequestHeadersGetResourceExhausted()
    {
        await using var fx = new RawServiceFixture(new GrpcServerOptions { MaxHeaderListSize = 8 * 1024 });
        using var channel = new UnixChannel(fx.SocketPath);
        var headers = new Metadata { { "big", new string('x', 10 * 1024) } };
        var e = await Assert.ThrowsAsync<RpcException>(() => channel.CreateCallInvoker()
            .AsyncUnaryCall(RawServiceFixture.EchoMethod, null, new CallOptions(headers), [1]).ResponseAsync);
        Assert.Equal(StatusCode.ResourceExhausted, e.StatusCode);
        Assert.Contains("header list", e.Status.Detail);
        await fx.AssertServesFreshClientAsync();
    }

    private static uint? ReadSetting(byte[] payload, SettingId id)
    {
        for (var i = 0; i + 6 <= payload.Length; i += 6)
        {
            if (BinaryPrimitives.ReadUInt16BigEndian(payload.AsSpan(i)) == (ushort)id)
                return BinaryPrimitives.ReadUInt32BigEndian(payload.AsSpan(i + 2));
        }
        return null;
    }

    internal static async Task WaitForConnectionsAsync(GrpcServer server, int count)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (server.ConnectionCount != count && DateTime.UtcNow < deadline)
            await Task.Delay(20);
        Assert.Equal(count, server.ConnectionCount);
    }
}

/// <summary>
/// Measures the process's managed heap, so it must not share the process with other tests running at the same
/// time (they allocate megabytes of their own): its collection runs alone.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class HeapMeasurementCollection
{
    public const string Name = "HeapMeasurement";
}

[Collection(HeapMeasurementCollection.Name)]
public sealed class ConnectionChurnTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(5);

    [Fact]
    public async Task ThousandConnectionsOpenedAndDroppedLeaveNothingBehind()
    {
        await using var fx = new RawServiceFixture();
        await fx.AssertServesFreshClientAsync();
        await HostileInputTests.WaitForConnectionsAsync(fx.Server, 0);
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        var before = GC.GetTotalMemory(forceFullCollection: true);

        for (var i = 0; i < 1000; i++)
        {
            await using var client = await RawHttp2Client.ConnectAsync(fx.SocketPath);
            switch (i % 4)
            {
                case 0: break; // connect, then drop
                case 1: await client.SendPrefaceAsync(); break;
                case 2: await client.HandshakeAsync(); break;
                default:
                    await client.HandshakeAsync();
                    await client.SendFrameAsync(FrameType.Headers, FrameFlags.EndHeaders, 1, client.RequestHeaderBlock("/test.Raw/Hold"));
                    break;
            }
        }
        await HostileInputTests.WaitForConnectionsAsync(fx.Server, 0);
        await fx.AssertServesFreshClientAsync();
        await HostileInputTests.WaitForConnectionsAsync(fx.Server, 0);
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        var after = GC.GetTotalMemory(forceFullCollection: true);
        Assert.True(after - before < 4 * 1024 * 1024, $"managed heap grew by {(after - before) / 1024} KiB over 1000 dropped connections");
    }

    [Fact]
    public async Task CompressedMessageWithoutAnEncodingIsInternalAndUnknownEncodingIsUnimplemented()
    {
        await using var fx = new RawServiceFixture();
        await using var client = await RawHttp2Client.ConnectAsync(fx.SocketPath);
        await client.HandshakeAsync();

        var compressed = RawHttp2Client.GrpcMessage([1, 2, 3]);
        compressed[0] = 1; // "compressed", but no grpc-encoding was sent
        await client.SendFrameAsync(FrameType.Headers, FrameFlags.EndHeaders, 1, client.RequestHeaderBlock("/test.Raw/Echo"));
        await client.SendFrameAsync(FrameType.Data, FrameFlags.EndStream, 1, compressed);
        var trailers = await client.ReadUntilAsync(f => f.Type == FrameType.Headers && f.StreamId == 1, Wait);
        var fields = client.DecodeHeaders(trailers!.Payload);
        Assert.Equal(((int)StatusCode.Internal).ToString(), fields["grpc-status"]);
        Assert.Contains("compressed", Uri.UnescapeDataString(fields["grpc-message"]));

        await client.SendFrameAsync(FrameType.Headers, FrameFlags.EndHeaders, 3, client.RequestHeaderBlock("/test.Raw/Echo", ("grpc-encoding", "gzip")));
        var reply = await client.ReadUntilAsync(f => f.Type == FrameType.Headers && f.StreamId == 3, Wait);
        var unimplemented = client.DecodeHeaders(reply!.Payload);
        Assert.Equal(((int)StatusCode.Unimplemented).ToString(), unimplemented["grpc-status"]);
        Assert.Contains("gzip", Uri.UnescapeDataString(unimplemented["grpc-message"]));
        await fx.AssertServesFreshClientAsync();
    }

}
