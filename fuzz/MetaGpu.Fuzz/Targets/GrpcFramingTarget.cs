namespace MetaGpu.Fuzz.Targets;

/// <summary>
/// gRPC message framing (Rpc/Grpc/MessageFraming.cs) and what sits behind it, on the real server: a well-formed
/// HTTP/2 request for one of the served methods, whose body is the fuzz input. Input layout:
/// byte 0 picks the method (<see cref="Methods"/>), byte 1 how the body is cut into DATA frames (0: one frame,
/// n: frames of n bytes), the rest is the body: length-prefixed messages (flag byte, 4-byte length, protobuf).
/// The call must end with trailers or a reset that is not INTERNAL_ERROR (server-streaming calls: or their first
/// message), and nothing may be logged at error level.
/// </summary>
internal sealed class GrpcFramingTarget : IFuzzTarget
{
    public static readonly string[] Methods =
    [
        "/v1beta1.DevicePlugin/GetDevicePluginOptions",
        "/v1beta1.DevicePlugin/ListAndWatch",
        "/v1beta1.DevicePlugin/GetPreferredAllocation",
        "/v1beta1.DevicePlugin/Allocate",
        "/v1beta1.DevicePlugin/PreStartContainer",
        "/grpc.health.v1.Health/Check",
        "/grpc.health.v1.Health/Watch",
    ];

    private static readonly byte[][] HeaderBlocks = Methods.Select(path => WireFrames.LiteralHeaderBlock(
        (":method", "POST"), (":scheme", "http"), (":path", path), (":authority", "localhost"),
        ("content-type", "application/grpc"), ("te", "trailers"))).ToArray();

    private readonly FuzzServer _server = FuzzServer.Shared;

    /// <summary>What a seed file holds for a call of <paramref name="method"/> with this body.</summary>
    public static byte[] Seed(int method, byte chunking, ReadOnlySpan<byte> body) => [(byte)method, chunking, .. body];

    public void Run(ReadOnlySpan<byte> input)
    {
        if (input.Length < 2)
            return;
        var method = input[0] % Methods.Length;
        var chunk = input[1] == 0 ? 16384 : input[1];
        var body = input[2..];

        var request = new MemoryStream();
        request.Write(WireFrames.Preface);
        WireFrames.Write(request, WireFrames.Settings, 0, 0, default);
        WireFrames.Write(request, WireFrames.Headers, WireFrames.EndHeaders, 1, HeaderBlocks[method]);
        do
        {
            var n = Math.Min(chunk, body.Length);
            WireFrames.Write(request, WireFrames.Data, n == body.Length ? WireFrames.EndStream : (byte)0, 1, body[..n]);
            body = body[n..];
        }
        while (!body.IsEmpty);

        using (var socket = _server.Connect())
        {
            FuzzServer.SendAll(socket, request.GetBuffer().AsSpan(0, (int)request.Length));
            var streaming = Methods[method].EndsWith("/ListAndWatch", StringComparison.Ordinal) || Methods[method].EndsWith("/Watch", StringComparison.Ordinal);
            var reader = new FrameReader(socket);
            var answered = false;
            while (!answered && reader.TryRead(out var frame))
            {
                WireFrames.ThrowIfInternalError(frame);
                if (frame.Type == WireFrames.GoAway)
                    throw new FuzzFinding($"server sent GOAWAY (code {frame.ErrorCode}: {frame.GoAwayDebug}) for a well-formed request");
                if (frame.StreamId != 1)
                    continue;
                answered = frame.Type == WireFrames.RstStream
                    || (frame.Flags & WireFrames.EndStream) != 0 && frame.Type is WireFrames.Headers or WireFrames.Data
                    || streaming && frame.Type == WireFrames.Data;
            }
            if (!answered)
                throw new FuzzFinding($"the server closed the connection without answering the call to {Methods[method]}");
        }
        ThreadPoolQuiet.Wait();
        _server.Log.ThrowIfAny();
    }
}
