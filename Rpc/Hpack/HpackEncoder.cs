using System.Buffers;

namespace MetaGpu.Rpc.Hpack;

/// <summary>
/// Encodes header blocks for one HTTP/2 connection. Not thread-safe: the dynamic table makes the
/// blocks of a connection a single ordered stream, so they must be encoded in sending order.
/// </summary>
public sealed class HpackEncoder
{
    // HTTP/2 initial SETTINGS_HEADER_TABLE_SIZE: the peer's decoder starts with this maximum, and
    // the encoder's table must mirror the decoder's until a size update says otherwise.
    private const int InitialPeerTableSize = 4096;

    private const int StackallocThreshold = 256;

    private readonly int _ownMaxTableSize;
    private readonly HpackDynamicTable _table;
    private int _peerMaxTableSize = InitialPeerTableSize;

    // A size change is signalled at the start of the next block (RFC 7541 4.2). If the effective
    // maximum dipped and rose again in between, the dip must be signalled too, so track the minimum.
    private bool _sizeUpdatePending;
    private int _pendingMinimum;

    public HpackEncoder(int maxDynamicTableSize = 4096)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(maxDynamicTableSize);
        _ownMaxTableSize = maxDynamicTableSize;
        _table = new HpackDynamicTable(InitialPeerTableSize, searchable: true);
        QueueSizeChange();
    }

    public int DynamicTableSize => _table.Size;

    public int DynamicTableCount => _table.Count;

    /// <summary>
    /// Huffman-code strings when that is strictly shorter. Off only to reproduce the RFC's
    /// plain-literal examples byte for byte.
    /// </summary>
    internal bool UseHuffman { get; set; } = true;

    internal HpackDynamicTable Table => _table;

    /// <summary>
    /// Records the peer's SETTINGS_HEADER_TABLE_SIZE. The table then uses the smaller of that and
    /// our own limit, announced by a size update at the start of the next block.
    /// </summary>
    public void SetPeerMaxTableSize(int size)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(size);
        _peerMaxTableSize = size;
        QueueSizeChange();
    }

    /// <summary>Starts a header block: writes any pending dynamic table size update.</summary>
    public void BeginBlock(IBufferWriter<byte> output)
    {
        ArgumentNullException.ThrowIfNull(output);
        if (!_sizeUpdatePending)
        {
            return;
        }

        _sizeUpdatePending = false;
        int target = EffectiveMaxTableSize;

        // RFC 7541 4.2: if the maximum dropped and rose again since the last block, the smallest
        // value is signalled before the final one, so the peer sees its reduced limit honoured. A
        // dip that never went below the current maximum changed nothing and is not signalled.
        if (_pendingMinimum < target && _pendingMinimum < _table.MaxSize)
        {
            WriteSizeUpdate(output, _pendingMinimum);
        }

        if (target != _table.MaxSize)
        {
            WriteSizeUpdate(output, target);
        }
    }

    /// <summary>
    /// Encodes one field. Names must already be lowercase (HTTP/2 8.1.2). A field found whole in a
    /// table is sent as an index; otherwise as a literal, naming a table entry when one has the
    /// name. With <see cref="HpackIndexing.Incremental"/> the field is added to the dynamic table if
    /// it fits. <see cref="HpackIndexing.NeverIndexed"/> fields are always literals, so the
    /// never-index flag reaches the peer.
    /// </summary>
    public void Encode(IBufferWriter<byte> output, ReadOnlySpan<byte> name, ReadOnlySpan<byte> value, HpackIndexing indexing = HpackIndexing.Incremental)
    {
        ArgumentNullException.ThrowIfNull(output);

        int staticIndex = HpackStaticTable.Find(name, value, out int nameIndex);
        if (staticIndex != 0 && indexing != HpackIndexing.NeverIndexed)
        {
            WriteIndexed(output, staticIndex);
            return;
        }

        // An Incremental field too large for the table would make the peer empty its table
        // (RFC 7541 4.4), destroying useful entries for nothing, so it is sent without indexing.
        bool addToTable = indexing == HpackIndexing.Incremental
            && (long)name.Length + value.Length + HpackDynamicTable.EntryOverhead <= _table.MaxSize;

        // Hashes are only needed to search the dynamic table or to store them in it.
        int nameHash = 0;
        int valueHash = 0;
        if (_table.Count > 0 || addToTable)
        {
            nameHash = Hash(name);
            valueHash = Hash(value);
        }

        if (_table.Count > 0)
        {
            int dynamicIndex = _table.Find(name, value, nameHash, valueHash, out int dynamicNameIndex);
            if (dynamicIndex >= 0 && indexing != HpackIndexing.NeverIndexed)
            {
                WriteIndexed(output, HpackStaticTable.Count + 1 + dynamicIndex);
                return;
            }

            // Static indices are smaller (shorter on the wire) and never go stale.
            if (nameIndex == 0 && dynamicNameIndex >= 0)
            {
                nameIndex = HpackStaticTable.Count + 1 + dynamicNameIndex;
            }
        }

        // 6.2.1 with indexing: 01xxxxxx; 6.2.3 never indexed: 0001xxxx; 6.2.2 without: 0000xxxx.
        (byte flags, int prefixBits) = indexing switch
        {
            HpackIndexing.NeverIndexed => ((byte)0x10, 4),
            _ when addToTable => ((byte)0x40, 6),
            _ => ((byte)0x00, 4),
        };

        int maxLength = HpackInteger.MaxEncodedLength
            + (nameIndex == 0 ? HpackInteger.MaxEncodedLength + name.Length : 0)
            + HpackInteger.MaxEncodedLength + value.Length;
        Span<byte> destination = output.GetSpan(maxLength);
        int written = HpackInteger.Encode(nameIndex, prefixBits, flags, destination);
        if (nameIndex == 0)
        {
            written += WriteString(name, destination[written..]);
        }

        written += WriteString(value, destination[written..]);
        output.Advance(written);

        if (addToTable)
        {
            _table.Insert(name, value, nameHash, valueHash);
        }
    }

    /// <summary>Encodes one field given as Latin-1 strings (each char one octet).</summary>
    /// <exception cref="ArgumentException">A char is above U+00FF.</exception>
    public void Encode(IBufferWriter<byte> output, string name, string value, HpackIndexing indexing = HpackIndexing.Incremental)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(value);

        int total = name.Length + value.Length;
        byte[]? rented = null;
        Span<byte> buffer = total <= StackallocThreshold
            ? stackalloc byte[StackallocThreshold]
            : (rented = ArrayPool<byte>.Shared.Rent(total));
        try
        {
            Span<byte> nameBytes = buffer[..name.Length];
            Span<byte> valueBytes = buffer.Slice(name.Length, value.Length);
            ToLatin1(name, nameBytes, nameof(name));
            ToLatin1(value, valueBytes, nameof(value));
            Encode(output, nameBytes, valueBytes, indexing);
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }
    }

    private int EffectiveMaxTableSize => Math.Min(_ownMaxTableSize, _peerMaxTableSize);

    private void QueueSizeChange()
    {
        int effective = EffectiveMaxTableSize;
        _pendingMinimum = _sizeUpdatePending ? Math.Min(_pendingMinimum, effective) : effective;
        _sizeUpdatePending = true;
    }

    private void WriteSizeUpdate(IBufferWriter<byte> output, int size)
    {
        // 6.3 Dynamic Table Size Update: 001xxxxx. The encoder's table follows at the same point
        // of the stream as the decoder's, so both evict the same entries.
        Span<byte> destination = output.GetSpan(HpackInteger.MaxEncodedLength);
        output.Advance(HpackInteger.Encode(size, 5, 0x20, destination));
        _table.SetMaxSize(size);
    }

    private static void WriteIndexed(IBufferWriter<byte> output, int index)
    {
        // 6.1 Indexed Header Field: 1xxxxxxx
        Span<byte> destination = output.GetSpan(HpackInteger.MaxEncodedLength);
        output.Advance(HpackInteger.Encode(index, 7, 0x80, destination));
    }

    private int WriteString(ReadOnlySpan<byte> source, Span<byte> destination)
    {
        // 5.2 String Literal: H bit, 7-bit prefix length, then the octets.
        if (UseHuffman && source.Length > 0)
        {
            int huffmanLength = Huffman.GetEncodedLength(source);
            if (huffmanLength < source.Length)
            {
                int prefix = HpackInteger.Encode(huffmanLength, 7, 0x80, destination);
                return prefix + Huffman.EncodeCore(source, destination[prefix..]);
            }
        }

        int written = HpackInteger.Encode(source.Length, 7, 0x00, destination);
        source.CopyTo(destination[written..]);
        return written + source.Length;
    }

    private static int Hash(ReadOnlySpan<byte> bytes)
    {
        var hash = default(HashCode);
        hash.AddBytes(bytes);
        return hash.ToHashCode();
    }

    private static void ToLatin1(string source, Span<byte> destination, string paramName)
    {
        for (int i = 0; i < source.Length; i++)
        {
            char c = source[i];
            if (c > 0xFF)
            {
                throw new ArgumentException("Header names and values must be Latin-1 (chars up to U+00FF).", paramName);
            }

            destination[i] = (byte)c;
        }
    }
}
