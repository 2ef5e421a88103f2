namespace MetaGpu.Rpc.Http2;

/// <summary>
/// The bytes a stream received and its reader has not taken yet. Bounded by the stream window we
/// advertise; the array goes back to the pool whenever the queue drains, so idle streams hold none.
/// </summary>
internal sealed class ByteQueue
{
    private byte[]? _buffer;
    private int _start;
    private int _end;

    public int Count => _end - _start;

    public void Enqueue(ReadOnlySpan<byte> data)
    {
        if (data.IsEmpty)
            return;
        if (_buffer is null)
        {
            _buffer = WireBuffers.Rent(Math.Max(data.Length, 4096));
            _start = _end = 0;
        }
        else if (_buffer.Length - _end < data.Length)
        {
            var count = Count;
            if (_buffer.Length - count >= data.Length && _start > 0)
            {
                _buffer.AsSpan(_start, count).CopyTo(_buffer);
            }
            else
            {
                var grown = WireBuffers.Rent(Math.Max(_buffer.Length * 2, count + data.Length));
                _buffer.AsSpan(_start, count).CopyTo(grown);
                WireBuffers.Return(_buffer);
                _buffer = grown;
            }
            _start = 0;
            _end = count;
        }
        data.CopyTo(_buffer.AsSpan(_end));
        _end += data.Length;
    }

    public int Dequeue(Span<byte> destination)
    {
        var n = Math.Min(destination.Length, Count);
        if (n == 0)
            return 0;
        _buffer.AsSpan(_start, n).CopyTo(destination);
        _start += n;
        if (_start == _end)
            Clear();
        return n;
    }

    public void Clear()
    {
        if (_buffer is not null)
        {
            WireBuffers.Return(_buffer);
            _buffer = null;
        }
        _start = _end = 0;
    }
}
