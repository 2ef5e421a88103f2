using System.Net.Sockets;

namespace MetaGpu.Fuzz.Targets;

/// <summary>
/// The HTTP/2 frame reader (Rpc/Http2/Http2Connection.Input.cs) through its real entry: the input is everything a
/// client sends after the connection preface, on a real connection to the real server. The server must refuse or
/// serve it, then close once the client half-closes, without an INTERNAL_ERROR or an error log.
/// </summary>
internal sealed class Http2FrameTarget : IFuzzTarget
{
    private readonly FuzzServer _server = FuzzServer.Shared;

    public void Run(ReadOnlySpan<byte> input)
    {
        using var socket = _server.Connect();
        var sent = new byte[WireFrames.Preface.Length + input.Length];
        WireFrames.Preface.CopyTo(sent);
        input.CopyTo(sent.AsSpan(WireFrames.Preface.Length));
        FuzzServer.SendAll(socket, sent);
        try
        {
            socket.Shutdown(SocketShutdown.Send);
        }
        catch (SocketException)
        {
        }
        var reader = new FrameReader(socket);
        while (reader.TryRead(out var frame))
            WireFrames.ThrowIfInternalError(frame);
        _server.Log.ThrowIfAny();
    }
}
