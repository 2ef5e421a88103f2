using System.Buffers.Binary;
using System.Net.Sockets;
using MetaGpu.Rpc.Hpack;
using MetaGpu.Rpc.Http2;

namespace MetaGpu.Tests.Transport;

/// <summary>A received frame, as a hostile test sees it.</summary>
public sealed record RawFrame(FrameType Type, FrameFlags Flags, int StreamId, byte[] Payload)
{
    public Http2ErrorCode GoAwayCode => (Http2ErrorCode)BinaryPrimitives.ReadUInt32BigEndian(Payload.AsSpan(4));
    public Http2ErrorCode RstCode => (Http2ErrorCode)BinaryPrimitives.ReadUInt32BigEndian(Payload);
    public string GoAwayDebug => System.Text.Encoding.UTF8.GetString(Payload.AsSpan(8));
}

/// <summary>
/// A deliberately dumb HTTP/2 peer for hostile-input tests: it writes whatever bytes a test asks for and reads
/// frames back, with no flow control or validation of its own.
/// </summary>
public sealed class RawHttp2Client : IAsyncDisposable
{
    private readonly Socket _socket;
    private readonly HpackEncoder _encoder = new();
    private byte[] _buffer = new byte[64 * 1024];
    private int _start;
    private int _end;

    private RawHttp2Client(Socket socket) => _socket = socket;

    /// <summary>
    /// The server's side of a connection a test accepted, for a client under test: the client's preface is read
    /// and checked, so what follows is frames.
    /// </summary>
    public static async Task<RawHttp2Client> AcceptedAsync(Socket socket, TimeSpan timeout)
    {
        var peer = new RawHttp2Client(socket);
        using var cts = new CancellationTokenSource(timeout);
        var preface = Http2Limits.ClientPreface.Length;
        if (!await peer.FillAsync(preface, cts.Token) || !peer._buffer.AsSpan(peer._start, preface).SequenceEqual(Http2Limits.ClientPreface))
            throw new InvalidDataException("the client sent no HTTP/2 preface");
        peer._start += preface;
        return peer;
    }

    public static async Task<RawHttp2Client> ConnectAsync(string path)
    {
        for (var attempt = 0; ; attempt++)
        {
            var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            try
            {
                await socket.ConnectAsync(new UnixDomainSocketEndPoint(path));
                return new RawHttp2Client(socket);
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.WouldBlock && attempt < 100)
            {
                // The listen backlog is full for a moment (a Unix socket says EAGAIN rather than queueing): as any client, retry.
                socket.Dispose();
                await Task.Delay(5);
            }
        }
    }

    public Task SendAsync(ReadOnlyMemory<byte> bytes) => _socket.SendAsync(bytes, SocketFlags.None).AsTask();

    public Task SendPrefaceAsync() => SendAsync(Http2Limits.ClientPreface.ToArray());

    /// <summary>Preface plus an empty SETTINGS frame: a handshake as grpc-go sends it.</summary>
    public async Task HandshakeAsync()
    {
        await SendPrefaceAsync();
        await SendFrameAsync(FrameType.Settings, FrameFlags.None, 0, []);
    }

    public static byte[] Frame(FrameType type, FrameFlags flags, int streamId, ReadOnlySpan<byte> payload, int? declaredLength = null)
    {
        var frame = new byte[9 + payload.Length];
        var length = declaredLength ?? payload.Length;
        frame[0] = (byte)(length >> 16);
        frame[1] = (byte)(length >> 8);
        frame[2] = (byte)length;
        frame[3] = (byte)type;
        frame[4] = (byte)flags;
        BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(5), (uint)streamId);
        payload.CopyTo(frame.AsSpan(9));
        return frame;
    }

    public Task SendFrameAsync(FrameType type, FrameFlags flags, int streamId, byte[] payload)
        => SendAsync(Frame(type, flags, streamId, payload));

    /// <summary>An HPACK block for a gRPC request to <paramref name="path"/>.</summary>
    public byte[] RequestHeaderBlock(string path, params (string Name, string Value)[] extra)
        => HeaderBlock([(":method", "POST"), (":scheme", "http"), (":path", path), (":authority", "localhost"), ("content-type", "application/grpc"), ("te", "trailers"), .. extra]);

    /// <summary>An HPACK block of <paramref name="fields"/>, from this peer's encoder (its dynamic table stays in step).</summary>
    public byte[] HeaderBlock(params (string Name, string Value)[] fields)
    {
        var writer = new System.Buffers.ArrayBufferWriter<byte>();
        _encoder.BeginBlock(writer);
        foreach (var (n, v) in fields)
            _encoder.Encode(writer, n, v);
        return writer.WrittenSpan.ToArray();
    }

    private readonly HpackDecoder _decoder = new();

    /// <summary>Decodes a header block the server sent. Feed every block of the connection, in order, to keep HPACK in step.</summary>
    public Dictionary<string, string> DecodeHeaders(byte[] block)
    {
        var sink = new DictionarySink();
        _decoder.Decode(block, sink);
        return sink.Fields;
    }

    private sealed class DictionarySink : IHpackHeaderSink
    {
        public Dictionary<string, string> Fields { get; } = new();

        public void OnHeader(ReadOnlySpan<byte> name, ReadOnlySpan<byte> value) =>
            Fields[System.Text.Encoding.Latin1.GetString(name)] = System.Text.Encoding.Latin1.GetString(value);
    }

    /// <summary>A gRPC length-prefixed message.</summary>
    public static byte[] GrpcMessage(ReadOnlySpan<byte> payload)
    {
        var m = new byte[5 + payload.Length];
        BinaryPrimitives.WriteUInt32BigEndian(m.AsSpan(1), (uint)payload.Length);
        payload.CopyTo(m.AsSpan(5));
        return m;
    }

    /// <summary>The next frame, or null when the server closed the connection (or nothing came within the timeout).</summary>
    public async Task<RawFrame?> ReadFrameAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            if (!await FillAsync(9, cts.Token))
                return null;
            var h = _buffer.AsSpan(_start, 9);
            var length = (h[0] << 16) | (h[1] << 8) | h[2];
            var type = (FrameType)h[3];
            var flags = (FrameFlags)h[4];
            var id = (int)(BinaryPrimitives.ReadUInt32BigEndian(h[5..]) & 0x7fffffff);
            if (!await FillAsync(9 + length, cts.Token))
                return null;
            var payload = _buffer.AsSpan(_start + 9, length).ToArray();
            _start += 9 + length;
            return new RawFrame(type, flags, id, payload);
        }
        catch (OperationCanceledException)
        {
            return null;
        }
        catch (SocketException)
        {
            return null;
        }
    }

    /// <summary>Reads until a frame matches or the connection ends; returns the match or null.</summary>
    public async Task<RawFrame?> ReadUntilAsync(Func<RawFrame, bool> match, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            var f = await ReadFrameAsync(deadline - DateTime.UtcNow);
            if (f is null)
                return null;
            if (match(f))
                return f;
        }
        return null;
    }

    /// <summary>True once the server has closed its end (reads return EOF) within the timeout.</summary>
    public async Task<bool> WaitForCloseAsync(TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            using var cts = new CancellationTokenSource(deadline - DateTime.UtcNow);
            try
            {
                _start = _end = 0;
                var n = await _socket.ReceiveAsync(_buffer.AsMemory(), SocketFlags.None, cts.Token);
                if (n == 0)
                    return true;
            }
            catch (OperationCanceledException)
            {
                return false;
            }
            catch (SocketException)
            {
                return true;
            }
        }
        return false;
    }

    private async Task<bool> FillAsync(int count, CancellationToken ct)
    {
        while (_end - _start < count)
        {
            if (_buffer.Length - _start < count)
            {
                if (_buffer.Length < count)
                    Array.Resize(ref _buffer, count * 2);
                Buffer.BlockCopy(_buffer, _start, _buffer, 0, _end - _start);
                _end -= _start;
                _start = 0;
            }
            var n = await _socket.ReceiveAsync(_buffer.AsMemory(_end), SocketFlags.None, ct);
            if (n == 0)
                return false;
            _end += n;
        }
        return true;
    }

    public ValueTask DisposeAsync()
    {
        _socket.Dispose();
        return ValueTask.CompletedTask;
    }
}
