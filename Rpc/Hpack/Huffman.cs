using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace MetaGpu.Rpc.Hpack;

/// <summary>The HPACK string Huffman code (RFC 7541 5.2, Appendix B).</summary>
public static class Huffman
{
    // Every code up to this many bits resolves with a single table lookup. That covers all
    // printable ASCII except a handful of rare punctuation, i.e. nearly every byte of real headers;
    // 2^11 two-byte entries (4 KiB) still sit comfortably in L1.
    private const int PrimaryBits = 11;

    // Primary entry: symbol | (code length << 9). Zero marks a prefix of a longer code, since no
    // real entry can be zero (every code is at least 5 bits).
    private const int SymbolMask = 0x1FF;
    private const int LengthShift = 9;

    private static readonly ushort[] s_primary = BuildPrimary();

    // Canonical-code walk for codes longer than PrimaryBits: the codes of one length are
    // consecutive integers starting at s_firstCode[length], and their symbols are stored in code
    // order from s_firstSymbolIndex[length] on.
    private static readonly uint[] s_firstCode = new uint[HuffmanTable.MaxCodeLength + 1];
    private static readonly int[] s_codeCount = new int[HuffmanTable.MaxCodeLength + 1];
    private static readonly int[] s_firstSymbolIndex = new int[HuffmanTable.MaxCodeLength + 1];
    private static readonly ushort[] s_symbolsByCode = BuildCanonicalWalk();

    /// <summary>Octets needed to Huffman-encode <paramref name="source"/>, padding included.</summary>
    public static int GetEncodedLength(ReadOnlySpan<byte> source)
    {
        ReadOnlySpan<byte> lengths = HuffmanTable.Lengths;
        long bits = 0;
        foreach (byte b in source)
        {
            bits += lengths[b];
        }

        return checked((int)((bits + 7) >> 3));
    }

    /// <summary>Huffman-encodes <paramref name="source"/>; returns the number of bytes written.</summary>
    /// <exception cref="ArgumentException"><paramref name="destination"/> is shorter than <see cref="GetEncodedLength"/>.</exception>
    public static int Encode(ReadOnlySpan<byte> source, Span<byte> destination)
    {
        if (destination.Length < GetEncodedLength(source))
        {
            throw new ArgumentException("Destination is too small for the Huffman-encoded string.", nameof(destination));
        }

        return EncodeCore(source, destination);
    }

    /// <summary>Encode for callers that already know the destination is large enough.</summary>
    internal static int EncodeCore(ReadOnlySpan<byte> source, Span<byte> destination)
    {
        ReadOnlySpan<uint> codes = HuffmanTable.Codes;
        ReadOnlySpan<byte> lengths = HuffmanTable.Lengths;

        // Pending bits sit in the low bitCount bits of `bits`; anything above is stale and is never
        // read, so it needs no masking. Flushing whole 32-bit words keeps at most 31 + 30 bits
        // pending, which fits.
        ulong bits = 0;
        int bitCount = 0;
        int written = 0;
        foreach (byte b in source)
        {
            int length = lengths[b];
            bits = (bits << length) | codes[b];
            bitCount += length;
            if (bitCount >= 32)
            {
                bitCount -= 32;
                BinaryPrimitives.WriteUInt32BigEndian(destination[written..], (uint)(bits >> bitCount));
                written += 4;
            }
        }

        while (bitCount >= 8)
        {
            bitCount -= 8;
            destination[written++] = (byte)(bits >> bitCount);
        }

        if (bitCount > 0)
        {
            // Pad with the most significant bits of EOS, i.e. ones (RFC 7541 5.2).
            destination[written++] = (byte)((bits << (8 - bitCount)) | (0xFFu >> bitCount));
        }

        return written;
    }

    /// <summary>
    /// Decodes a Huffman-encoded string. <paramref name="destination"/> must hold the worst case,
    /// <c>source.Length * 8 / 5</c> bytes (every code is at least 5 bits).
    /// </summary>
    /// <returns>The number of bytes written.</returns>
    /// <exception cref="HpackException">EOS inside the string, or padding longer than 7 bits or not all ones.</exception>
    /// <exception cref="ArgumentException"><paramref name="destination"/> filled up.</exception>
    public static int Decode(ReadOnlySpan<byte> source, Span<byte> destination)
    {
        // The index is at most 11 bits and the table has 2^11 entries, so the lookup needs no
        // bounds check; this loop runs once per decoded byte of every header.
        ref ushort primary = ref MemoryMarshal.GetArrayDataReference(s_primary);

        // Unconsumed bits, most significant first, left-aligned in `bits`; everything below the
        // first bitCount bits is either zero or a copy of input bits not yet counted.
        ulong bits = 0;
        int bitCount = 0;
        int read = 0;
        int written = 0;
        while (true)
        {
            // Keep a whole code (at most 30 bits) available while input remains. Once input runs
            // out, the zero fill can only produce a code longer than what is left, which the
            // length check below catches.
            if (bitCount < HuffmanTable.MaxCodeLength)
            {
                if (source.Length - read >= sizeof(ulong))
                {
                    // Load eight bytes and count only the whole ones that fit; the bits of the
                    // next byte that also land in `bits` are its true value, so ORing that byte
                    // in again later changes nothing.
                    bits |= BinaryPrimitives.ReadUInt64BigEndian(source[read..]) >> bitCount;
                    read += (63 - bitCount) >> 3;
                    bitCount |= 56;
                }
                else
                {
                    while (bitCount <= 56 && read < source.Length)
                    {
                        bits |= (ulong)source[read++] << (56 - bitCount);
                        bitCount += 8;
                    }

                    if (bitCount == 0)
                    {
                        break;
                    }
                }
            }

            int symbol;
            int length;
            int entry = Unsafe.Add(ref primary, (nint)(bits >> (64 - PrimaryBits)));
            if (entry != 0)
            {
                symbol = entry & SymbolMask;
                length = entry >> LengthShift;
            }
            else
            {
                DecodeLong(bits, bitCount, out symbol, out length);
            }

            if (length > bitCount)
            {
                // Only the tail of the last byte is left; it must be padding (checked below).
                break;
            }

            if ((uint)written >= (uint)destination.Length)
            {
                throw new ArgumentException("Destination is too small for the decoded string.", nameof(destination));
            }

            destination[written++] = (byte)symbol;
            bits <<= length;
            bitCount -= length;
        }

        // RFC 7541 5.2: padding is a strict prefix of EOS (all ones) and shorter than a byte. No
        // symbol's code is all ones, so all-ones leftovers were never mistaken for a symbol above.
        if (bitCount > 7)
        {
            throw new HpackException("Huffman-encoded string has more than 7 bits of padding.");
        }

        if (bitCount > 0 && (bits >> (64 - bitCount)) != (1UL << bitCount) - 1)
        {
            throw new HpackException("Huffman padding is not a prefix of EOS.");
        }

        return written;
    }

    private static void DecodeLong(ulong bits, int availableBits, out int symbol, out int length)
    {
        for (int len = PrimaryBits + 1; len <= HuffmanTable.MaxCodeLength; len++)
        {
            uint code = (uint)(bits >> (64 - len));
            uint offset = code - s_firstCode[len];
            if (offset < (uint)s_codeCount[len])
            {
                symbol = s_symbolsByCode[s_firstSymbolIndex[len] + (int)offset];
                length = len;

                // Only a complete EOS is an error; a cut-off one at the end is ordinary padding
                // and gets a length beyond the remaining bits, which the caller checks first.
                if (symbol == HuffmanTable.Eos && len <= availableBits)
                {
                    throw new HpackException("Huffman-encoded string contains the EOS symbol.");
                }

                return;
            }
        }

        // Unreachable for the complete HPACK code; reported as "more bits than available" so the
        // caller falls into its padding check and rejects the input.
        symbol = 0;
        length = int.MaxValue;
    }

    private static ushort[] BuildPrimary()
    {
        ReadOnlySpan<uint> codes = HuffmanTable.Codes;
        ReadOnlySpan<byte> lengths = HuffmanTable.Lengths;
        var table = new ushort[1 << PrimaryBits];
        for (int symbol = 0; symbol < HuffmanTable.SymbolCount; symbol++)
        {
            int length = lengths[symbol];
            if (length > PrimaryBits)
            {
                continue;
            }

            // Every index whose top `length` bits equal the code decodes to this symbol.
            int first = (int)(codes[symbol] << (PrimaryBits - length));
            int span = 1 << (PrimaryBits - length);
            table.AsSpan(first, span).Fill((ushort)(symbol | (length << LengthShift)));
        }

        return table;
    }

    private static ushort[] BuildCanonicalWalk()
    {
        ReadOnlySpan<uint> codes = HuffmanTable.Codes;
        ReadOnlySpan<byte> lengths = HuffmanTable.Lengths;
        var symbols = new ushort[HuffmanTable.SymbolCount];
        int next = 0;
        for (int len = 1; len <= HuffmanTable.MaxCodeLength; len++)
        {
            s_firstSymbolIndex[len] = next;
            s_firstCode[len] = uint.MaxValue;

            // In a canonical code, code order within one length is symbol order.
            for (int symbol = 0; symbol < HuffmanTable.SymbolCount; symbol++)
            {
                if (lengths[symbol] == len)
                {
                    s_firstCode[len] = Math.Min(s_firstCode[len], codes[symbol]);
                    s_codeCount[len]++;
                    symbols[next++] = (ushort)symbol;
                }
            }
        }

        return symbols;
    }
}
