using System.Buffers;

namespace MetaGpu.Rpc.Http2;

/// <summary>
/// A growable <see cref="IBufferWriter{T}"/> over <see cref="WireBuffers"/>, reused across frames and messages.
/// It holds no array until the first write.
/// </summary>
internal sealed class PooledBufferWriter(int initialCapacity = 4096) : IBufferWriter<byte>, IDisposable
{
    private byte[] _buffer = [];
    private int _written;

    public int WrittenCount => _written;
    public ReadOnlySpan<byte> WrittenSpan => _buffer.AsSpan(0, _written);
    public ReadOnlyMemory<byte> WrittenMemory => _buffer.AsMemory(0, _written);
    public Span<byte> WrittenSpanMutable => _buffer.AsSpan(0, _written);

    public void Advance(int count)
    {
        if ((uint)count > (uint)(_buffer.Length - _written))
            throw new ArgumentOutOfRangeException(nameof(count));
        _written += count;
    }

    public Memory<byte> GetMemory(int sizeHint = 0)
    {
        Ensure(sizeHint);
        return _buffer.AsMemory(_written);
    }

    public Span<byte> GetSpan(int sizeHint = 0)
    {
        Ensure(sizeHint);
        return _buffer.AsSpan(_written);
    }

    public void Write(ReadOnlySpan<byte> data)
    {
        Ensure(data.Length);
        data.CopyTo(_buffer.AsSpan(_written));
        _written += data.Length;
    }

    /// <summary>Forgets what was written; keeps the array unless it is larger than <paramref name="keepAtMost"/> (0: never keep one).</summary>
    public void Reset(int keepAtMost = 64 * 1024)
    {
        _written = 0;
        if (_buffer.Length > keepAtMost)
            Replace([]);
    }

    private void Ensure(int sizeHint)
    {
        if (sizeHint < 1)
            sizeHint = 1;
        if (_buffer.Length - _written >= sizeHint)
            return;
        var grown = WireBuffers.Rent(Math.Max(Math.Max(_buffer.Length * 2, initialCapacity), _written + sizeHint));
        _buffer.AsSpan(0, _written).CopyTo(grown);
        Replace(grown);
    }

    private void Replace(byte[] next)
    {
        var old = _buffer;
        _buffer = next;
        if (old.Length > 0)
            WireBuffers.Return(old);
    }

    public void Dispose()
    {
        _written = 0;
        Replace([]);
    }
}
