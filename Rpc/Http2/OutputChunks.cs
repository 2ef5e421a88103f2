namespace MetaGpu.Rpc.Http2;

/// <summary>
/// A connection's frames waiting to be sent, in chunks from <see cref="WireBuffers"/> (always pooled sizes): 16 KiB first, each next one twice the
/// last, up to <see cref="WireBuffers.LargestPooled"/>. One growing array held a batch before: past 64 KiB (eight
/// 20 KB GetPreferredAllocation answers at once) every doubling was a fresh array on the large-object heap, which
/// only a full collection takes back, and the benchmark's calls left 1–3 MB of them behind. Chunks never leave the
/// pool's sizes. A frame may span two chunks (the wire is a byte stream); what asks for contiguous room
/// (<see cref="GetSpan"/>, a frame header) gets it in one chunk. With a <see cref="MemoryBudget"/> every chunk
/// held is counted there.
/// </summary>
internal sealed class OutputChunks(MemoryBudget? budget = null) : IDisposable
{
    private const int FirstChunk = 16 * 1024;

    private readonly List<byte[]> _chunks = [];

    /// <summary>How many bytes of each chunk are written.</summary>
    private readonly List<int> _counts = [];

    public int WrittenCount { get; private set; }

    public int ChunkCount => _chunks.Count;

    /// <summary>The written bytes of chunk <paramref name="i"/>.</summary>
    public ReadOnlyMemory<byte> Chunk(int i) => _chunks[i].AsMemory(0, _counts[i]);

    /// <summary>The written bytes of chunk <paramref name="i"/>, as a segment of its array (for a gathered send).</summary>
    public ArraySegment<byte> Segment(int i) => new(_chunks[i], 0, _counts[i]);

    /// <summary>At least <paramref name="sizeHint"/> contiguous bytes to write into (at most <see cref="WireBuffers.LargestPooled"/>).</summary>
    public Span<byte> GetSpan(int sizeHint)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(sizeHint, WireBuffers.LargestPooled);
        var last = _chunks.Count - 1;
        if (last < 0 || _chunks[last].Length - _counts[last] < Math.Max(sizeHint, 1))
            last = Add(sizeHint);
        return _chunks[last].AsSpan(_counts[last]);
    }

    public void Advance(int count)
    {
        var last = _chunks.Count - 1;
        if (last < 0 || (uint)count > (uint)(_chunks[last].Length - _counts[last]))
            throw new ArgumentOutOfRangeException(nameof(count));
        _counts[last] += count;
        WrittenCount += count;
    }

    public void Write(ReadOnlySpan<byte> data)
    {
        while (!data.IsEmpty)
        {
            var room = GetSpan(1);
            var n = Math.Min(room.Length, data.Length);
            data[..n].CopyTo(room);
            Advance(n);
            data = data[n..];
        }
    }

    /// <summary>Forgets what was written and gives every chunk back: an idle connection holds none.</summary>
    public void Reset()
    {
        foreach (var chunk in _chunks)
        {
            budget?.Release(chunk.Length);
            WireBuffers.Return(chunk);
        }
        _chunks.Clear();
        _counts.Clear();
        WrittenCount = 0;
    }

    public void Dispose() => Reset();

    private int Add(int sizeHint)
    {
        var size = _chunks.Count == 0 ? FirstChunk : Math.Min(2 * _chunks[^1].Length, WireBuffers.LargestPooled);
        var chunk = WireBuffers.Rent(Math.Max(size, sizeHint));
        budget?.Force(chunk.Length);
        _chunks.Add(chunk);
        _counts.Add(0);
        return _chunks.Count - 1;
    }
}
