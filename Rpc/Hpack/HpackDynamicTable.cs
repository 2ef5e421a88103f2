using System.Diagnostics;

namespace MetaGpu.Rpc.Hpack;

/// <summary>
/// The HPACK dynamic table (RFC 7541 2.3.2, 4): a FIFO of fields, newest first, bounded by the RFC
/// size accounting. Shared by the encoder and the decoder so both evict identically.
/// </summary>
/// <remarks>
/// Entry bytes (name then value, contiguous so they can be handed out as spans) live in one reused
/// byte ring rather than an array per entry: steady-state insertion allocates nothing. An entry
/// never wraps around the end of the ring; when it does not fit in the tail it starts over at 0
/// and the tail is left as a gap until the entries before it are evicted. With a ring of twice the
/// table's byte budget a place always exists after eviction, so the ring grows (doubling, with
/// compaction) only until it reaches that size, and only as far as the peer actually fills it.
/// <para>
/// The encoder looks up every field it sends, so a searchable table also keeps hash chains: each
/// bucket heads a newest-first chain of insertion ids. Eviction never touches them: a chain is
/// walked only while its ids are still live, and everything behind the first evicted id is older
/// and therefore evicted too.
/// </para>
/// </remarks>
internal sealed class HpackDynamicTable
{
    /// <summary>RFC 7541 4.1: the per-entry overhead counted on top of name and value lengths.</summary>
    public const int EntryOverhead = 32;

    private const int MinByteCapacity = 256;
    private const int MinEntryCapacity = 8;

    private struct Entry
    {
        public int Offset;
        public int NameLength;
        public int ValueLength;

        // Search support (encoder only): hashes reject mismatches without touching bytes; the
        // next ids continue this entry's field and name chains towards older entries.
        public int NameHash;
        public int ValueHash;
        public long NextSameField;
        public long NextSameName;
    }

    private Entry[] _entries = [];
    private int _newest = -1; // slot of the most recent entry in the _entries ring
    private int _count;

    private byte[] _bytes = [];
    private int _head;      // offset of the oldest entry's bytes
    private int _tail;      // where the next entry's bytes go
    private int _wrapCount; // number of oldest entries still lying before the gap; 0 = no gap

    private int _size;
    private int _maxSize;

    // Search index, only when constructed searchable. Ids count insertions from 1 (64 bits never
    // wrap), so index = _newestId - id, and a bucket holding 0 is empty.
    private readonly bool _searchable;
    private long _newestId;
    private long[] _fieldChains = [];
    private long[] _nameChains = [];

    public HpackDynamicTable(int maxSize, bool searchable = false)
    {
        Debug.Assert(maxSize >= 0);
        _maxSize = maxSize;
        _searchable = searchable;
    }

    public int Count => _count;

    /// <summary>Current size in RFC octets (name + value + 32 per entry).</summary>
    public int Size => _size;

    public int MaxSize => _maxSize;

    public ReadOnlySpan<byte> Name(int index)
    {
        ref Entry e = ref At(index);
        return new ReadOnlySpan<byte>(_bytes, e.Offset, e.NameLength);
    }

    public ReadOnlySpan<byte> Value(int index)
    {
        ref Entry e = ref At(index);
        return new ReadOnlySpan<byte>(_bytes, e.Offset + e.NameLength, e.ValueLength);
    }

    /// <summary>Applies a new maximum size, evicting the oldest entries until the table fits (RFC 7541 4.3).</summary>
    public void SetMaxSize(int maxSize)
    {
        Debug.Assert(maxSize >= 0);
        _maxSize = maxSize;
        EvictUntil(maxSize);
    }

    /// <summary>
    /// Adds a field as the newest entry (RFC 7541 4.4). An entry larger than the maximum size empties
    /// the table instead; returns whether the entry was added.
    /// </summary>
    /// <remarks>
    /// <paramref name="name"/> may point into this table, even at an entry this insert evicts (RFC
    /// 7541 4.4 allows a literal to name such an entry): eviction only moves indices, a compaction
    /// copies into a new array, and the name is copied first with memmove semantics, so its bytes
    /// are intact when read. <paramref name="value"/> must not point into the table.
    /// </remarks>
    public bool Insert(ReadOnlySpan<byte> name, ReadOnlySpan<byte> value, int nameHash = 0, int valueHash = 0)
    {
        Debug.Assert(!value.Overlaps(_bytes));

        long entrySize = (long)name.Length + value.Length + EntryOverhead;
        if (entrySize > _maxSize)
        {
            EvictUntil(0);
            return false;
        }

        EvictUntil(_maxSize - (int)entrySize);

        int length = name.Length + value.Length;
        int offset = Allocate(length);
        name.CopyTo(_bytes.AsSpan(offset)); // before the value: the value may land on the old name bytes
        value.CopyTo(_bytes.AsSpan(offset + name.Length));

        if (_count == _entries.Length)
        {
            GrowEntries();
        }

        _newest = _newest + 1 == _entries.Length ? 0 : _newest + 1;
        _entries[_newest] = new Entry
        {
            Offset = offset,
            NameLength = name.Length,
            ValueLength = value.Length,
            NameHash = nameHash,
            ValueHash = valueHash,
        };
        _count++;
        _size += (int)entrySize;

        if (_searchable)
        {
            Link(ref _entries[_newest], ++_newestId);
        }

        return true;
    }

    /// <summary>
    /// Searches a searchable table, newest first, so the lowest index wins. Returns the 0-based
    /// index of an entry equal to the whole field, or -1. Without a whole match,
    /// <paramref name="nameIndex"/> receives the newest entry with the name, or -1.
    /// </summary>
    public int Find(ReadOnlySpan<byte> name, ReadOnlySpan<byte> value, int nameHash, int valueHash, out int nameIndex)
    {
        Debug.Assert(_searchable);
        nameIndex = -1;
        if (_count == 0)
        {
            return -1;
        }

        int mask = _fieldChains.Length - 1;
        for (long id = _fieldChains[FieldHash(nameHash, valueHash) & mask]; TryGetLive(id, out int index);)
        {
            ref Entry e = ref At(index);
            if (e.NameHash == nameHash
                && e.ValueHash == valueHash
                && name.SequenceEqual(new ReadOnlySpan<byte>(_bytes, e.Offset, e.NameLength))
                && value.SequenceEqual(new ReadOnlySpan<byte>(_bytes, e.Offset + e.NameLength, e.ValueLength)))
            {
                nameIndex = index;
                return index;
            }

            id = e.NextSameField;
        }

        for (long id = _nameChains[nameHash & mask]; TryGetLive(id, out int index);)
        {
            ref Entry e = ref At(index);
            if (e.NameHash == nameHash && name.SequenceEqual(new ReadOnlySpan<byte>(_bytes, e.Offset, e.NameLength)))
            {
                nameIndex = index;
                return -1;
            }

            id = e.NextSameName;
        }

        return -1;
    }

    private static int FieldHash(int nameHash, int valueHash) => (nameHash * -1640531535) ^ valueHash;

    /// <summary>Maps an insertion id to its current index, if the entry has not been evicted.</summary>
    private bool TryGetLive(long id, out int index)
    {
        // The empty marker 0 is older than any entry, so it reads as evicted as well.
        long age = _newestId - id;
        index = (int)age;
        return (ulong)age < (ulong)_count;
    }

    private void Link(ref Entry entry, long id)
    {
        int mask = _fieldChains.Length - 1;
        ref long fieldHead = ref _fieldChains[FieldHash(entry.NameHash, entry.ValueHash) & mask];
        entry.NextSameField = fieldHead;
        fieldHead = id;
        ref long nameHead = ref _nameChains[entry.NameHash & mask];
        entry.NextSameName = nameHead;
        nameHead = id;
    }

    private ref Entry At(int index)
    {
        Debug.Assert((uint)index < (uint)_count);
        int slot = _newest - index;
        if (slot < 0)
        {
            slot += _entries.Length;
        }

        return ref _entries[slot];
    }

    private void EvictUntil(int targetSize)
    {
        while (_size > targetSize)
        {
            ref Entry oldest = ref At(_count - 1);
            _size -= oldest.NameLength + oldest.ValueLength + EntryOverhead;
            _count--;
            if (_wrapCount > 0)
            {
                _wrapCount--;
            }

            if (_count > 0)
            {
                _head = At(_count - 1).Offset;
            }
        }

        if (_count == 0)
        {
            _head = 0;
            _tail = 0;
            _wrapCount = 0;
        }
    }

    /// <summary>Reserves <paramref name="length"/> contiguous bytes in the ring; returns their offset.</summary>
    private int Allocate(int length)
    {
        int offset;
        if (_wrapCount == 0)
        {
            // Live bytes are [_head, _tail): use the tail, else restart at 0 in front of _head.
            if (_bytes.Length - _tail >= length)
            {
                offset = _tail;
                _tail += length;
                return offset;
            }

            if (_count > 0 && _head >= length)
            {
                _wrapCount = _count;
                _tail = length;
                return 0;
            }
        }
        else if (_head - _tail >= length)
        {
            // Live bytes are [_head, gap) and [0, _tail): only the hole between them is free.
            offset = _tail;
            _tail += length;
            return offset;
        }

        Compact(length);
        offset = _tail;
        _tail += length;
        return offset;
    }

    /// <summary>Moves the live entries, oldest first, to the start of a larger ring with room for <paramref name="extra"/> more bytes.</summary>
    private void Compact(int extra)
    {
        long live = 0;
        for (int i = 0; i < _count; i++)
        {
            ref Entry e = ref At(i);
            live += e.NameLength + e.ValueLength;
        }

        long capacity = Math.Max(Math.Max(2L * _bytes.Length, 2 * (live + extra)), MinByteCapacity);
        capacity = Math.Min(capacity, Array.MaxLength);
        if (capacity < live + extra)
        {
            throw new OutOfMemoryException("HPACK dynamic table entries exceed the largest possible array.");
        }

        var bytes = new byte[capacity];
        int position = 0;
        for (int i = _count - 1; i >= 0; i--)
        {
            ref Entry e = ref At(i);
            int length = e.NameLength + e.ValueLength;
            _bytes.AsSpan(e.Offset, length).CopyTo(bytes.AsSpan(position));
            e.Offset = position;
            position += length;
        }

        _bytes = bytes;
        _head = 0;
        _tail = position;
        _wrapCount = 0;
    }

    private void GrowEntries()
    {
        var entries = new Entry[Math.Max(_entries.Length * 2, MinEntryCapacity)];
        for (int i = 0; i < _count; i++)
        {
            entries[_count - 1 - i] = At(i);
        }

        _entries = entries;
        _newest = _count - 1;

        if (_searchable)
        {
            // Keep chains short: twice as many buckets as entries can exist. Relinking oldest
            // first leaves every chain newest-first again.
            _fieldChains = new long[entries.Length * 2];
            _nameChains = new long[entries.Length * 2];
            for (int i = _count - 1; i >= 0; i--)
            {
                Link(ref At(i), _newestId - i);
            }
        }
    }
}
