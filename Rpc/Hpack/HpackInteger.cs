using System.Diagnostics;

namespace MetaGpu.Rpc.Hpack;

/// <summary>The prefixed integer representation of RFC 7541 5.1.</summary>
internal static class HpackInteger
{
    /// <summary>Worst case for a non-negative int: the prefix octet plus five continuation octets.</summary>
    public const int MaxEncodedLength = 6;

    // Five continuation octets carry 35 bits, enough for any int. A peer sending more is either
    // padding with zero groups or attacking; either way the block is refused.
    private const int MaxContinuationOctets = 5;

    /// <summary>
    /// Writes <paramref name="value"/> with an N-bit prefix; <paramref name="firstByteFlags"/> supplies
    /// the representation bits above the prefix. Returns the number of bytes written.
    /// </summary>
    public static int Encode(int value, int prefixBits, byte firstByteFlags, Span<byte> destination)
    {
        Debug.Assert(value >= 0);
        Debug.Assert(prefixBits is >= 1 and <= 8);
        Debug.Assert((firstByteFlags & ((1 << prefixBits) - 1)) == 0);

        int prefixMax = (1 << prefixBits) - 1;
        if (value < prefixMax)
        {
            destination[0] = (byte)(firstByteFlags | value);
            return 1;
        }

        destination[0] = (byte)(firstByteFlags | prefixMax);
        uint rest = (uint)(value - prefixMax);
        int written = 1;
        while (rest >= 0x80)
        {
            destination[written++] = (byte)(rest | 0x80);
            rest >>= 7;
        }

        destination[written++] = (byte)rest;
        return written;
    }

    /// <summary>
    /// Reads an integer with an N-bit prefix starting at <paramref name="position"/> (which must be
    /// inside <paramref name="source"/>) and advances past it.
    /// </summary>
    /// <exception cref="HpackException">The integer is cut off, exceeds int.MaxValue or uses too many octets.</exception>
    public static int Decode(ReadOnlySpan<byte> source, ref int position, int prefixBits)
    {
        int prefixMax = (1 << prefixBits) - 1;
        int value = source[position++] & prefixMax;
        if (value < prefixMax)
        {
            return value;
        }

        // 64-bit accumulation: 5 groups of 7 bits shifted by at most 28 cannot overflow it, so the
        // range check below sees the true value.
        ulong total = (ulong)value;
        int shift = 0;
        for (int i = 0; i < MaxContinuationOctets; i++)
        {
            if (position >= source.Length)
            {
                throw new HpackException("Header block ends inside an integer.");
            }

            byte b = source[position++];
            total += (ulong)(b & 0x7F) << shift;
            if (total > int.MaxValue)
            {
                throw new HpackException("Integer exceeds the supported range.");
            }

            if ((b & 0x80) == 0)
            {
                return (int)total;
            }

            shift += 7;
        }

        throw new HpackException("Integer uses too many continuation octets.");
    }
}
