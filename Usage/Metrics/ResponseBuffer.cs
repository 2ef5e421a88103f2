using System.Buffers;

namespace MetaGpu.Usage.Metrics;

/// <summary>
/// One response: the body is written after <see cref="HeadRoom"/> bytes kept free, and the head, known only once
/// the body's length is, goes right before it, so the whole response is one contiguous send. The array is kept
/// between scrapes (it grows to the largest body seen) and is never larger than <see cref="MaxBody"/> plus the head.
/// </summary>
internal sealed class ResponseBuffer : IBufferWriter<byte>
{
    public const int HeadRoom = 256;
    public const int MaxBody = 32 * 1024 * 1024;

    private byte[] _array = new byte[64 * 1024];
    private int _end = HeadRoom;
    private int _start = HeadRoom;

    public int BodyLength => _end - HeadRoom;
    public int Capacity => _array.Length;

    public void Reset()
    {
        _start = HeadRoom;
        _end = HeadRoom;
    }

    public void Advance(int count)
    {
        if ((uint)count > (uint)(_array.Length - _end))
            throw new ArgumentOutOfRangeException(nameof(count));
        _end += count;
    }

    public Memory<byte> GetMemory(int sizeHint = 0)
    {
        Ensure(sizeHint);
        return _array.AsMemory(_end);
    }

    public Span<byte> GetSpan(int sizeHint = 0)
    {
        Ensure(sizeHint);
        return _array.AsSpan(_end);
    }

    /// <summary>Puts <paramref name="head"/> (at most <see cref="HeadRoom"/> bytes) before the body.</summary>
    public void PrependHead(ReadOnlySpan<byte> head)
    {
        if (head.Length > HeadRoom)
            throw new ArgumentException("response head too long", nameof(head));
        _start = HeadRoom - head.Length;
        head.CopyTo(_array.AsSpan(_start));
    }

    /// <summary>Head and body, or the head alone (HEAD requests).</summary>
    public ReadOnlyMemory<byte> Response(bool withBody) => _array.AsMemory(_start, (withBody ? _end : HeadRoom) - _start);

    private void Ensure(int sizeHint)
    {
        sizeHint = Math.Max(sizeHint, 1);
        if (_array.Length - _end >= sizeHint)
            return;
        var needed = (long)_end + sizeHint;
        if (needed - HeadRoom > MaxBody)
            throw new InvalidOperationException($"the metrics text is larger than {MaxBody / (1024 * 1024)} MiB");
        var grown = new byte[(int)Math.Min(Math.Max(needed, (long)_array.Length * 2), MaxBody + HeadRoom)];
        _array.AsSpan(0, _end).CopyTo(grown);
        _array = grown;
    }
}
