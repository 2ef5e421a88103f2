using System.Buffers;
using System.Buffers.Binary;
using System.Net.Sockets;
using Grpc.Core;
using MetaGpu.Rpc.Grpc;
using MetaGpu.Rpc.Hpack;
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
            await ReadRequestAsync(server);
            var encoder = new HpackEncoder();
            var reply = new List<byte>();
            reply.AddRange(RawHttp2Client.Frame(FrameType.Settings, FrameFlags.None, 0, []));
            reply.AddRange(RawHttp2Client.Frame(FrameType.Settings, FrameFlags.Ack, 0, []));
            reply.AddRange(RawHttp2Client.Frame(FrameType.Headers, FrameFlags.EndHeaders, 1, Block(encoder, (":status", "200"), ("content-type", "application/grpc"))));
            reply.AddRange(RawHttp2Client.Frame(FrameType.Data, FrameFlags.None, 1, RawHttp2Client.GrpcMessage([7, 8])));
            reply.AddRange(RawHttp2Client.Frame(FrameType.Headers, FrameFlags.EndHeaders | FrameFlags.EndStream, 1, Block(encoder, ("grpc-status", "0"))));
            var goAway = new byte[8];
            BinaryPrimitives.WriteUInt32BigEndian(goAway, 1);
            reply.AddRange(RawHttp2Client.Frame(FrameType.GoAway, FrameFlags.None, 0, goAway));
            await server.SendAsync(reply.ToArray(), SocketFlags.None);
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

    private static byte[] Block(HpackEncoder encoder, params (string Name, string Value)[] fields)
    {
        var writer = new ArrayBufferWriter<byte>();
        encoder.BeginBlock(writer);
        foreach (var (n, v) in fields)
            encoder.Encode(writer, n, v);
        return writer.WrittenSpan.ToArray();
    }

    /// <summary>Reads the client's preface and frames until its request stream ends (DATA with END_STREAM).</summary>
    private static async Task ReadRequestAsync(Socket server)
    {
        var buffer = new byte[64 * 1024];
        var have = 0;
        var start = Http2Limits.ClientPreface.Length;
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (true)
        {
            while (have - start >= 9)
            {
                var length = (buffer[start] << 16) | (buffer[start + 1] << 8) | buffer[start + 2];
                if (have - start < 9 + length)
                    break;
                var type = (FrameType)buffer[start + 3];
                var flags = (FrameFlags)buffer[start + 4];
                start += 9 + length;
                if (type == FrameType.Data && (flags & FrameFlags.EndStream) != 0)
                    return;
            }
            var n = await server.ReceiveAsync(buffer.AsMemory(have), SocketFlags.None, timeout.Token);
            Assert.NotEqual(0, n);
            have += n;
        }
    }
}
