using System.Net.Sockets;

namespace MetaGpu.Fuzz.Targets;

/// <summary>
/// The HTTP/2 frame reader (Rpc/Http2/Http2Connection.Input.cs) through its real entry: the input is everything a
/// client sends after the connection preface, on a real connection to the real server, so requests it manages to
/// make reach the gRPC layer and the plugin too. When the input ends on a frame boundary a PING follows it; once
/// its ACK is back every frame was processed, and the handlers get the thread pool to themselves for a moment to
/// answer. Then the client half-closes and reads to the end. The server must refuse or serve the input and close,
/// without an INTERNAL_ERROR on the wire or an error log.
/// </summary>
internal sealed class Http2FrameTarget : IFuzzTarget
{
    private static readonly byte[] PingPayload = "fuzzdone"u8.ToArray();

    private readonly FuzzServer _server = FuzzServer.Shared;

    public void Run(ReadOnlySpan<byte> input)
    {
        using var socket = _server.Connect();
        var ping = EndsOnFrameBoundary(input);
        var sent = new MemoryStream(WireFrames.Preface.Length + input.Length + 17);
        sent.Write(WireFrames.Preface);
        sent.Write(input);
        if (ping)
            WireFrames.Write(sent, WireFrames.Ping, 0, 0, PingPayload);
        FuzzServer.SendAll(socket, sent.GetBuffer().AsSpan(0, (int)sent.Length));

        var reader = new FrameReader(socket);
        var open = true;
        if (ping)
        {
            while (open = reader.TryRead(out var frame))
            {
                WireFrames.ThrowIfInternalError(frame);
                if (frame.Type == WireFrames.GoAway)
                    break;
                if (frame.Type == WireFrames.Ping && (frame.Flags & WireFrames.Ack) != 0 && frame.Payload.SequenceEqual(PingPayload))
                {
                    ThreadPoolQuiet.Wait();
                    break;
                }
            }
        }
        if (open)
        {
            try
            {
                socket.Shutdown(SocketShutdown.Send);
            }
            catch (SocketException)
            {
            }
            while (reader.TryRead(out var frame))
                WireFrames.ThrowIfInternalError(frame);
        }
        ThreadPoolQuiet.Wait();
        _server.Log.ThrowIfAny();
    }

    /// <summary>True when the input is whole frames (so a PING after it is read as a frame, not as payload).</summary>
    private static bool EndsOnFrameBoundary(ReadOnlySpan<byte> input)
    {
        while (input.Length >= 9)
        {
            var length = (input[0] << 16) | (input[1] << 8) | input[2];
            if (input.Length < 9 + length)
                return false;
            input = input[(9 + length)..];
        }
        return input.IsEmpty;
    }
}
