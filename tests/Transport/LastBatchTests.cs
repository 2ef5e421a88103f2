using System.Buffers.Binary;
using System.Net.Sockets;
using Grpc.Core;
using MetaGpu.Rpc.Grpc;
using MetaGpu.Rpc.Http2;

namespace MetaGpu.Tests.Transport;

/// <summary>
/// A server that answers and says goodbye in one write: the response's HEADERS, DATA and trailers followed by
/// GOAWAY, as a server shutting down sends them. The client's read of that batch ends the connection (no stream
/// left after GOAWAY), and the finished call must still get its response: it was found hanging forever (the demo
/// on Ctrl-C), its reader never woken because the batch ended without waking it.
/// </summary>
public sealed class LastBatchTests
{
    [Theory]
    [InlineData(false)] // the connection then ends on EOF
    [InlineData(true)]  // ... or the server keeps it open: GOAWAY alone must end it
    public async Task ResponseFollowedByGoAwayInOneWriteIsDelivered(bool keepOpen)
    {
        var directory = Directory.CreateTempSubdirectory("metagpu-lastbatch-").FullName;
        try
        {
            var path = Path.Combine(directory, "s.sock");
            using var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            listener.Bind(new UnixDomainSocketEndPoint(path));
            listener.Listen(1);
            using var channel = new UnixChannel(path);
            var call = channel.CreateCallInvoker().AsyncUnaryCall(RawServiceFixture.EchoMethod, null, default, [7]).ResponseAsync;

            using var server = await listener.AcceptAsync().WaitAsync(TimeSpan.FromSeconds(10));
            await using var peer = await RawHttp2Client.AcceptedAsync(server, TimeSpan.FromSeconds(10));
            Assert.NotNull(await peer.ReadUntilAsync(f => f.Type == FrameType.Data && (f.Flags & FrameFlags.EndStream) != 0, TimeSpan.FromSeconds(10)));
            var goAway = new byte[8];
            BinaryPrimitives.WriteUInt32BigEndian(goAway, 1);
            await peer.SendAsync((byte[])[
                .. RawHttp2Client.Frame(FrameType.Settings, FrameFlags.None, 0, []),
                .. RawHttp2Client.Frame(FrameType.Settings, FrameFlags.Ack, 0, []),
                .. RawHttp2Client.Frame(FrameType.Headers, FrameFlags.EndHeaders, 1, peer.HeaderBlock((":status", "200"), ("content-type", "application/grpc"))),
                .. RawHttp2Client.Frame(FrameType.Data, FrameFlags.None, 1, RawHttp2Client.GrpcMessage([7, 8])),
                .. RawHttp2Client.Frame(FrameType.Headers, FrameFlags.EndHeaders | FrameFlags.EndStream, 1, peer.HeaderBlock(("grpc-status", "0"))),
                .. RawHttp2Client.Frame(FrameType.GoAway, FrameFlags.None, 0, goAway),
            ]);
            if (!keepOpen)
                server.Shutdown(SocketShutdown.Send);

            var response = await call.WaitAsync(TimeSpan.FromSeconds(10));
            Assert.Equal(new byte[] { 7, 8 }, response);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }
}
