namespace MetaGpu.Rpc.Hpack;

/// <summary>
/// Decodes header blocks (RFC 7541 3, 6) received on one HTTP/2 connection. Not thread-safe: the
/// dynamic table makes the blocks of a connection a single ordered stream.
/// </summary>
public sealed class HpackDecoder
{
    // HTTP/2's initial SETTINGS_HEADER_TABLE_SIZE (RFC 9113 6.5.2).
    private const int InitialTableSize = 4096;

    private readonly int _maxTableSizeLimit;
    private readonly HpackDynamicTable _table;

    // Holds the Huffman-decoded name and value of the field being decoded. Reused across fields and
    // blocks; it only grows as far as the strings in the blocks actually received require.
    private byte[] _scratch = [];

    /// <param name="maxDynamicTableSize">
    /// The SETTINGS_HEADER_TABLE_SIZE we advertise; a size update above it is an error. The table
    /// starts at the smaller of this and HTTP/2's initial 4096: a peer encoder assumes 4096 until it
    /// announces something else, so a larger table only comes into use through a size update.
    /// </param>
    public HpackDecoder(int maxDynamicTableSize = 4096)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(maxDynamicTableSize);
        _maxTableSizeLimit = maxDynamicTableSize;
        _table = new HpackDynamicTable(Math.Min(maxDynamicTableSize, InitialTableSize));
    }

    /// <summary>Current size of the dynamic table in RFC octets (name + value + 32 per entry).</summary>
    public int DynamicTableSize => _table.Size;

    /// <summary>Current maximum size of the dynamic table, as last set by a size update.</summary>
    public int DynamicTableMaxSize => _table.MaxSize;

    public int DynamicTableCount => _table.Count;

    internal HpackDynamicTable Table => _table;

    /// <summary>
    /// Decodes one complete header block (HEADERS plus CONTINUATION fragments, joined), calling
    /// <paramref name="sink"/> for each field in order and keeping the dynamic table in sync.
    /// </summary>
    /// <exception cref="HpackException">The block is malformed; the connection must be closed.</exception>
    public void Decode(ReadOnlySpan<byte> headerBlock, IHpackHeaderSink sink)
    {
        ArgumentNullException.ThrowIfNull(sink);

        int position = 0;
        bool sawField = false;
        while (position < headerBlock.Length)
        {
            byte first = headerBlock[position];
            if ((first & 0x80) != 0)
            {
                // 6.1 Indexed Header Field: 1xxxxxxx
                int index = HpackInteger.Decode(headerBlock, ref position, 7);
                ReadOnlySpan<byte> name = GetName(index);
                ReadOnlySpan<byte> value = index <= HpackStaticTable.Count
                    ? HpackStaticTable.Value(index)
                    : _table.Value(index - HpackStaticTable.Count - 1);
                sink.OnHeader(name, value);
                sawField = true;
            }
            else if ((first & 0x40) != 0)
            {
                // 6.2.1 Literal with Incremental Indexing: 01xxxxxx
                DecodeLiteral(headerBlock, ref position, 6, addToTable: true, sink);
                sawField = true;
            }
            else if ((first & 0x20) != 0)
            {
                // 6.3 Dynamic Table Size Update: 001xxxxx. 4.2 only allows it before the first field,
                // where it takes effect before any index in the block is resolved.
                if (sawField)
                {
                    throw new HpackException("Dynamic table size update after a header field.");
                }

                int size = HpackInteger.Decode(headerBlock, ref position, 5);
                if (size > _maxTableSizeLimit)
                {
                    throw new HpackException("Dynamic table size update exceeds the advertised maximum.");
                }

                _table.SetMaxSize(size);
            }
            else
            {
                // 6.2.2 Literal without Indexing: 0000xxxx; 6.2.3 Literal Never Indexed: 0001xxxx.
                // For a decoder that is not re-encoding, both just pass the field on.
                DecodeLiteral(headerBlock, ref position, 4, addToTable: false, sink);
                sawField = true;
            }
        }
    }

    private void DecodeLiteral(ReadOnlySpan<byte> block, ref int position, int prefixBits, bool addToTable, IHpackHeaderSink sink)
    {
        int nameIndex = HpackInteger.Decode(block, ref position, prefixBits);
        int scratchUsed = 0;
        ReadOnlySpan<byte> name;
        if (nameIndex == 0)
        {
            name = ReadString(block, ref position, ref scratchUsed);
        }
        else
        {
            // May be an entry the insert below evicts; the table copes with that (RFC 7541 4.4).
            name = GetName(nameIndex);
        }

        ReadOnlySpan<byte> value = ReadString(block, ref position, ref scratchUsed);
        sink.OnHeader(name, value);
        if (addToTable)
        {
            _table.Insert(name, value);
        }
    }

    private ReadOnlySpan<byte> GetName(int index)
    {
        if (index == 0)
        {
            throw new HpackException("Header field index 0 is not valid.");
        }

        if (index <= HpackStaticTable.Count)
        {
            return HpackStaticTable.Name(index);
        }

        int dynamicIndex = index - HpackStaticTable.Count - 1;
        if (dynamicIndex >= _table.Count)
        {
            throw new HpackException("Header field index is past the end of the dynamic table.");
        }

        return _table.Name(dynamicIndex);
    }

    /// <summary>
    /// Reads a string literal (RFC 7541 5.2). A raw string is returned as a slice of the block; a
    /// Huffman one is decoded into the scratch buffer after the first <paramref name="scratchUsed"/> bytes.
    /// </summary>
    private ReadOnlySpan<byte> ReadString(ReadOnlySpan<byte> block, scoped ref int position, scoped ref int scratchUsed)
    {
        if (position >= block.Length)
        {
            throw new HpackException("Header block ends inside a header field.");
        }

        bool huffman = (block[position] & 0x80) != 0;
        int length = HpackInteger.Decode(block, ref position, 7);
        if (length > block.Length - position)
        {
            throw new HpackException("String literal runs past the end of the header block.");
        }

        ReadOnlySpan<byte> raw = block.Slice(position, length);
        position += length;
        if (!huffman)
        {
            return raw;
        }

        // Each code is at least 5 bits, which bounds the output, so the buffer (and the work) can
        // never exceed a constant factor of the block itself.
        long maxDecoded = (long)length * 8 / 5;
        if (scratchUsed + maxDecoded > Array.MaxLength)
        {
            throw new HpackException("Huffman-encoded string is too long.");
        }

        EnsureScratch(scratchUsed + (int)maxDecoded);
        int decoded = Huffman.Decode(raw, new Span<byte>(_scratch, scratchUsed, (int)maxDecoded));
        var result = new ReadOnlySpan<byte>(_scratch, scratchUsed, decoded);
        scratchUsed += decoded;
        return result;
    }

    private void EnsureScratch(int size)
    {
        if (_scratch.Length >= size)
        {
            return;
        }

        // Spans already handed out for this field keep referring to the old array, which stays
        // alive and unchanged, so nothing has to be copied across.
        long grown = Math.Max(Math.Max(2L * _scratch.Length, size), 256);
        _scratch = new byte[Math.Min(grown, Array.MaxLength)];
    }
}
