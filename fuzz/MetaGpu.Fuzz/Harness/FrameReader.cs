using System.Buffers.Binary;
using System.Net.Sockets;

namespace MetaGpu.Fuzz;

/// <summary>Reads the server's frames off a blocking socket, one at a time.</summary>
internal sealed class FrameReader(Socket socket)
{
    private byte[] _buffer = new byte[64 * 1024];
    private int _start;
    private int _end;

    /// <summary>False at the end of the connection (or a reset, or a cut-off last frame).</summary>
    public bool TryRead(out WireFrames.Frame frame)
    {
        frame = default;
        if (!Fill(9))
            return false;
        var header = _buffer.AsSpan(_start, 9);
        var length = (header[0] << 16) | (header[1] << 8) | header[2];
        if (!Fill(9 + length))
            return false;
        frame = new WireFrames.Frame(header[3], header[4], (int)(BinaryPrimitives.ReadUInt32BigEndian(header[5..]) & 0x7fffffff),
            _buffer.AsSpan(_start + 9, length));
        _start += 9 + length;
        return true;
    }

    private bool Fill(int count)
    {
        while (_end - _start < count)
        {
            if (_buffer.Length - _start < count)
            {
                var bigger = new byte[Math.Max(_buffer.Length, count * 2)];
                Buffer.BlockCopy(_buffer, _start, bigger, 0, _end - _start);
                _end -= _start;
                _start = 0;
                _buffer = bigger;
            }
            int n;
            try
            {
                n = socket.Receive(_buffer, _end, _buffer.Length - _end, SocketFlags.None);
            }
            catch (SocketException e) when (e.SocketErrorCode is SocketError.ConnectionReset or SocketError.Shutdown)
            {
                return false;
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.TimedOut)
            {
                throw new FuzzFinding("the server neither answered nor closed the connection within 10 s");
            }
            if (n == 0)
                return false;
            _end += n;
        }
        return true;
    }
}
