using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace MetaGpu.Tests.Usage.Metrics;

/// <summary>One response as read off the wire.</summary>
internal sealed record RawResponse(int Status, Dictionary<string, string> Headers, string Body);

/// <summary>A TCP client that writes exactly the bytes a test gives it and reads responses byte by byte, for hostile-input tests.</summary>
internal sealed class RawHttpClient : IDisposable
{
    private readonly byte[] _buffer = new byte[64 * 1024];
    private int _start;
    private int _end;

    public Socket Socket { get; }

    private RawHttpClient(Socket socket) => Socket = socket;

    public static async Task<RawHttpClient> ConnectAsync(int port, IPAddress? ip = null, int? receiveBuffer = null)
    {
        ip ??= IPAddress.Loopback;
        var socket = new Socket(ip.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        if (receiveBuffer is { } size)
            socket.ReceiveBufferSize = size;
        await socket.ConnectAsync(new IPEndPoint(ip, port)).WaitAsync(TimeSpan.FromSeconds(30));
        return new RawHttpClient(socket);
    }

    public Task SendAsync(string text) => SendAsync(Encoding.Latin1.GetBytes(text));

    public async Task SendAsync(byte[] bytes)
    {
        var sent = 0;
        while (sent < bytes.Length)
            sent += await Socket.SendAsync(bytes.AsMemory(sent), SocketFlags.None).AsTask().WaitAsync(TimeSpan.FromSeconds(30));
    }

    private async Task<bool> FillAsync(TimeSpan timeout)
    {
        if (_start == _end)
            _start = _end = 0;
        if (_end == _buffer.Length)
        {
            _buffer.AsSpan(_start, _end - _start).CopyTo(_buffer);
            _end -= _start;
            _start = 0;
        }
        var read = await Socket.ReceiveAsync(_buffer.AsMemory(_end), SocketFlags.None).AsTask().WaitAsync(timeout);
        _end += read;
        return read > 0;
    }

    private async Task<string?> ReadLineAsync(TimeSpan timeout)
    {
        while (true)
        {
            var lf = _buffer.AsSpan(_start, _end - _start).IndexOf((byte)'\n');
            if (lf >= 0)
            {
                var line = Encoding.Latin1.GetString(_buffer, _start, lf).TrimEnd('\r');
                _start += lf + 1;
                return line;
            }
            if (!await FillAsync(timeout))
                return null;
        }
    }

    /// <summary>The next response, or null at the end of the connection. For a HEAD request the body is not read.</summary>
    public async Task<RawResponse?> ReadResponseAsync(bool head = false, TimeSpan? timeout = null)
    {
        var t = timeout ?? TimeSpan.FromSeconds(30);
        var status = await ReadLineAsync(t);
        if (status is null)
            return null;
        Assert.StartsWith("HTTP/1.1 ", status);
        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        while (await ReadLineAsync(t) is { Length: > 0 } line)
        {
            var colon = line.IndexOf(':');
            headers[line[..colon]] = line[(colon + 1)..].Trim();
        }
        var length = head ? 0 : int.Parse(headers["Content-Length"], CultureInfo.InvariantCulture);
        var body = new byte[length];
        var got = 0;
        while (got < length)
        {
            if (_start == _end && !await FillAsync(t))
                throw new EndOfStreamException($"the body ended after {got} of {length} bytes");
            var n = Math.Min(length - got, _end - _start);
            _buffer.AsSpan(_start, n).CopyTo(body.AsSpan(got));
            _start += n;
            got += n;
        }
        return new RawResponse(int.Parse(status.AsSpan(9, 3), CultureInfo.InvariantCulture), headers, Encoding.UTF8.GetString(body));
    }

    /// <summary>Whether the server ends the connection (EOF or reset) within <paramref name="timeout"/>; bytes still coming are dropped.</summary>
    public async Task<bool> ClosedWithinAsync(TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        try
        {
            while (true)
            {
                var left = deadline - DateTime.UtcNow;
                if (left <= TimeSpan.Zero)
                    return false;
                _start = _end = 0;
                if (!await FillAsync(left))
                    return true;
            }
        }
        catch (SocketException)
        {
            return true;
        }
        catch (TimeoutException)
        {
            return false;
        }
    }

    public void Dispose() => Socket.Dispose();
}
