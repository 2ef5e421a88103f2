using System.Buffers;
using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Net.Sockets;
using MetaGpu.Rpc.Hpack;
using MetaGpu.Rpc.Http2;

namespace MetaGpu.Bench;

/// <summary>
/// A hostile HTTP/2 client for the attack runs: it writes the frames it is told to, and (unless told not to
/// read) follows the server's window updates so that it can push as much as flow control allows, and notes
/// what the server answered (RST_STREAM codes, GOAWAY).
/// </summary>
sealed class AttackPeer : IAsyncDisposable
{
    private readonly Socket _socket;
    private readonly HpackEncoder _encoder = new();
    private readonly ConcurrentDictionary<int, long> _streamWindows = new();
    private readonly CancellationTokenSource _stop = new();
    private Task? _reader;
    private long _connectionWindow = Http2Limits.DefaultWindowSize;
    private long _initialStreamWindow = Http2Limits.DefaultWindowSize;

    private AttackPeer(Socket socket) => _socket = socket;

    public Http2ErrorCode? GoAway { get; private set; }
    public int Resets;
    public bool Closed { get; private set; }

    public static async Task<AttackPeer> ConnectAsync(string path, bool read = true)
    {
        for (var attempt = 0; ; attempt++)
        {
            var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            try
            {
                await socket.ConnectAsync(new UnixDomainSocketEndPoint(path));
                var peer = new AttackPeer(socket);
                await peer.SendAsync(Http2Limits.ClientPreface.ToArray().Concat(Frame(FrameType.Settings, FrameFlags.None, 0, [])).ToArray());
                if (read)
                    peer._reader = peer.ReadLoopAsync();
                return peer;
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.WouldBlock && attempt < 200)
            {
                socket.Dispose();
                await Task.Delay(5); // listen backlog full for a moment
            }
        }
    }

    public static byte[] Frame(FrameType type, FrameFlags flags, int streamId, ReadOnlySpan<byte> payload)
    {
        var frame = new byte[9 + payload.Length];
        frame[0] = (byte)(payload.Length >> 16);
        frame[1] = (byte)(payload.Length >> 8);
        frame[2] = (byte)payload.Length;
        frame[3] = (byte)type;
        frame[4] = (byte)flags;
        BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(5), (uint)streamId);
        payload.CopyTo(frame.AsSpan(9));
        return frame;
    }

    public async Task SendAsync(ReadOnlyMemory<byte> bytes)
    {
        while (!bytes.IsEmpty)
        {
            var n = await _socket.SendAsync(bytes, SocketFlags.None);
            bytes = bytes[n..];
        }
    }

    /// <summary>Sends, but gives up after <paramref name="timeout"/>: false when the server stopped reading us.</summary>
    public async Task<bool> TrySendAsync(ReadOnlyMemory<byte> bytes, TimeSpan timeout)
    {
        var send = SendAsync(bytes);
        if (await Task.WhenAny(send, Task.Delay(timeout)) != send)
            return false;
        try
        {
            await send;
            return true;
        }
        catch (SocketException)
        {
            Closed = true; // the server hung up on us (GOAWAY, then close)
            return false;
        }
    }

    /// <summary>HEADERS (+ CONTINUATION) for a gRPC request, with optional extra fields sent without indexing.</summary>
    public byte[] RequestHeaders(int streamId, string path, bool endStream, params (string Name, string Value)[] extra)
    {
        var writer = new ArrayBufferWriter<byte>();
        _encoder.BeginBlock(writer);
        foreach (var (n, v) in new[] { (":method", "POST"), (":scheme", "http"), (":path", path), (":authority", "localhost"), ("content-type", "application/grpc"), ("te", "trailers") })
            _encoder.Encode(writer, n, v);
        foreach (var (n, v) in extra)
            _encoder.Encode(writer, n, v, HpackIndexing.WithoutIndexing);
        var block = writer.WrittenSpan;
        var frames = new List<byte>();
        var first = true;
        do
        {
            var n = Math.Min(block.Length, Http2Limits.MaxFrameSize);
            var flags = n == block.Length ? FrameFlags.EndHeaders : FrameFlags.None;
            if (first && endStream)
                flags |= FrameFlags.EndStream;
            frames.AddRange(Frame(first ? FrameType.Headers : FrameType.Continuation, flags, streamId, block[..n]));
            block = block[n..];
            first = false;
        }
        while (!block.IsEmpty);
        _streamWindows[streamId] = Interlocked.Read(ref _initialStreamWindow);
        return [.. frames];
    }

    /// <summary>Sends DATA on a stream as far as both windows allow, up to <paramref name="data"/>; returns what was sent.</summary>
    public async Task<int> SendDataWithinWindowAsync(int streamId, ReadOnlyMemory<byte> data, TimeSpan timeout)
    {
        var sent = 0;
        var until = DateTime.UtcNow + timeout;
        while (sent < data.Length && DateTime.UtcNow < until && !Closed)
        {
            var stream = _streamWindows.GetValueOrDefault(streamId);
            var n = (int)Math.Min(Math.Min(stream, Interlocked.Read(ref _connectionWindow)), Math.Min(Http2Limits.MaxFrameSize, data.Length - sent));
            if (n <= 0)
                break; // no window: the server is not reading this any more
            Interlocked.Add(ref _connectionWindow, -n);
            _streamWindows.AddOrUpdate(streamId, 0, (_, w) => w - n);
            if (!await TrySendAsync(Frame(FrameType.Data, FrameFlags.None, streamId, data.Span.Slice(sent, n)), TimeSpan.FromSeconds(2)))
                break;
            sent += n;
        }
        return sent;
    }

    private async Task ReadLoopAsync()
    {
        var buffer = new byte[64 * 1024];
        int start = 0, end = 0;
        try
        {
            while (!_stop.IsCancellationRequested)
            {
                while (end - start >= 9)
                {
                    var length = (buffer[start] << 16) | (buffer[start + 1] << 8) | buffer[start + 2];
                    if (end - start < 9 + length)
                        break;
                    var type = (FrameType)buffer[start + 3];
                    var flags = (FrameFlags)buffer[start + 4];
                    var id = (int)(BinaryPrimitives.ReadUInt32BigEndian(buffer.AsSpan(start + 5)) & 0x7fffffff);
                    OnFrame(type, flags, id, buffer.AsSpan(start + 9, length));
                    start += 9 + length;
                }
                if (start > 0)
                {
                    Buffer.BlockCopy(buffer, start, buffer, 0, end - start);
                    end -= start;
                    start = 0;
                }
                var n = await _socket.ReceiveAsync(buffer.AsMemory(end), SocketFlags.None, _stop.Token);
                if (n == 0)
                    break;
                end += n;
            }
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException or ObjectDisposedException)
        {
        }
        Closed = true;
    }

    private void OnFrame(FrameType type, FrameFlags flags, int id, ReadOnlySpan<byte> payload)
    {
        switch (type)
        {
            case FrameType.WindowUpdate when payload.Length == 4:
                var increment = BinaryPrimitives.ReadUInt32BigEndian(payload) & 0x7fffffff;
                if (id == 0)
                    Interlocked.Add(ref _connectionWindow, increment);
                else
                    _streamWindows.AddOrUpdate(id, increment, (_, w) => w + increment);
                break;
            case FrameType.Settings when (flags & FrameFlags.Ack) == 0:
                for (var i = 0; i + 6 <= payload.Length; i += 6)
                {
                    if (BinaryPrimitives.ReadUInt16BigEndian(payload[i..]) == (ushort)SettingId.InitialWindowSize)
                        Interlocked.Exchange(ref _initialStreamWindow, BinaryPrimitives.ReadUInt32BigEndian(payload[(i + 2)..]));
                }
                _ = SendAsync(Frame(FrameType.Settings, FrameFlags.Ack, 0, []));
                break;
            case FrameType.RstStream:
                Interlocked.Increment(ref Resets);
                break;
            case FrameType.GoAway when payload.Length >= 8:
                GoAway = (Http2ErrorCode)BinaryPrimitives.ReadUInt32BigEndian(payload[4..]);
                break;
        }
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _socket.Dispose();
        if (_reader is not null)
            await _reader;
    }
}
