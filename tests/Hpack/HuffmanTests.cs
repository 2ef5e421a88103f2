using CsCheck;
using MetaGpu.Rpc.Hpack;
using static MetaGpu.Tests.Hpack.HpackTestSupport;

namespace MetaGpu.Tests.Hpack;

public class HuffmanTests
{
    [Fact]
    public void SpecTable_IsACompleteCanonicalCode()
    {
        // Guards the hand-typed Appendix B table: a canonical code assigns consecutive codes in
        // (length, symbol) order, so regenerating it from the lengths must give back every code,
        // and a complete prefix code fills the code space exactly (Kraft sum = 1).
        ReadOnlySpan<uint> codes = HuffmanTable.Codes;
        ReadOnlySpan<byte> lengths = HuffmanTable.Lengths;
        Assert.Equal(HuffmanTable.SymbolCount, codes.Length);
        Assert.Equal(HuffmanTable.SymbolCount, lengths.Length);

        ulong kraft = 0;
        uint code = 0;
        int previousLength = 0;
        for (int length = 1; length <= HuffmanTable.MaxCodeLength; length++)
        {
            for (int symbol = 0; symbol < HuffmanTable.SymbolCount; symbol++)
            {
                if (lengths[symbol] != length)
                {
                    continue;
                }

                code <<= length - previousLength;
                previousLength = length;
                Assert.True(codes[symbol] == code, $"symbol {symbol}: table has 0x{codes[symbol]:x}, canonical 0x{code:x}");
                code++;
                kraft += 1UL << (HuffmanTable.MaxCodeLength - length);
            }
        }

        Assert.Equal(1UL << HuffmanTable.MaxCodeLength, kraft);
        Assert.Equal(0x3fffffffu, codes[HuffmanTable.Eos]);
        Assert.Equal(30, lengths[HuffmanTable.Eos]);
    }

    [Theory]
    [InlineData("www.example.com", "f1e3 c2e5 f23a 6ba0 ab90 f4ff")]
    [InlineData("no-cache", "a8eb 1064 9cbf")]
    [InlineData("custom-key", "25a8 49e9 5ba9 7d7f")]
    [InlineData("custom-value", "25a8 49e9 5bb8 e8b4 bf")]
    [InlineData("302", "6402")]
    [InlineData("307", "640e ff")]
    [InlineData("private", "aec3 771a 4b")]
    [InlineData("Mon, 21 Oct 2013 20:13:21 GMT", "d07a be94 1054 d444 a820 0595 040b 8166 e082 a62d 1bff")]
    [InlineData("Mon, 21 Oct 2013 20:13:22 GMT", "d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff")]
    [InlineData("https://www.example.com", "9d29 ad17 1863 c78f 0b97 c8e9 ae82 ae43 d3")]
    [InlineData("gzip", "9bd9 ab")]
    [InlineData("foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1",
        "94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07")]
    [InlineData("", "")]
    public void RfcStrings_EncodeAndDecodeExactly(string text, string hex)
    {
        byte[] raw = Latin1(text);
        byte[] encoded = Hex(hex);

        Assert.Equal(encoded.Length, Huffman.GetEncodedLength(raw));
        var destination = new byte[encoded.Length];
        Assert.Equal(encoded.Length, Huffman.Encode(raw, destination));
        Assert.Equal(encoded, destination);

        var decoded = new byte[encoded.Length * 8 / 5 + 1];
        int length = Huffman.Decode(encoded, decoded);
        Assert.Equal(raw, decoded[..length]);
    }

    [Fact]
    public void EverySymbol_RoundTripsAloneAndTogether()
    {
        // Singly, each symbol ends the string, so its code meets the padding logic, including the
        // 20-30 bit codes that bypass the lookup table.
        for (int b = 0; b < 256; b++)
        {
            AssertRoundTrip([(byte)b]);
            AssertRoundTrip([(byte)b, (byte)b, (byte)b]);
        }

        var all = new byte[256];
        for (int b = 0; b < 256; b++)
        {
            all[b] = (byte)(255 - b);
        }

        AssertRoundTrip(all);
    }

    [Fact]
    public void RandomBytes_RoundTrip()
    {
        Gen.Frequency<byte[]>(
                (3, Gen.Byte.Array[0, 64]),
                (3, Gen.OneOf("abcdefghijklmnopqrstuvwxyz0123456789-./:=_ "u8.ToArray()).Array[0, 200]),
                (1, Gen.Byte.Array[0, 4000]))
            .Sample(AssertRoundTrip, iter: 400);
    }

    [Theory]
    [InlineData("1fff", "11 bits of padding after 'a'")]
    [InlineData("ff", "a whole byte of padding")]
    [InlineData("1e", "padding 110 contains a zero")]
    [InlineData("1c", "padding 100 contains zeros")]
    [InlineData("10", "padding 000")]
    [InlineData("ffff fffc", "EOS (30 ones) inside the string")]
    [InlineData("ffff ffff", "EOS followed by padding")]
    [InlineData("1fff ffff ff", "'a' then EOS")]
    [InlineData("fe", "8 bits that start the 10-bit code of '!': too long for padding")]
    public void InvalidInput_ThrowsHpackException(string hex, string why)
    {
        var destination = new byte[64];
        var exception = Assert.Throws<HpackException>(() => Huffman.Decode(Hex(hex), destination));
        Assert.False(string.IsNullOrEmpty(exception.Message), why);
    }

    [Fact]
    public void ValidPaddingVariants_Decode()
    {
        // 'a' = 00011: followed by 3 one bits of padding fills exactly one byte.
        var destination = new byte[8];
        Assert.Equal(1, Huffman.Decode(Hex("1f"), destination));
        Assert.Equal((byte)'a', destination[0]);

        // "0" (00000) then "1" (00001) = 10 bits, padded with 6 ones.
        Assert.Equal(2, Huffman.Decode(Hex("007f"), destination));
        Assert.Equal("01"u8.ToArray(), destination[..2]);
    }

    [Fact]
    public void SmallDestinations_ThrowArgumentException()
    {
        byte[] encoded = Hex("f1e3 c2e5 f23a 6ba0 ab90 f4ff"); // www.example.com
        Assert.Throws<ArgumentException>(() => Huffman.Decode(encoded, new byte[14]));
        Assert.Throws<ArgumentException>(() => Huffman.Encode(Latin1("www.example.com"), new byte[11]));
    }

    private static void AssertRoundTrip(byte[] raw)
    {
        int encodedLength = Huffman.GetEncodedLength(raw);
        var encoded = new byte[encodedLength];
        Assert.Equal(encodedLength, Huffman.Encode(raw, encoded));

        var decoded = new byte[encodedLength * 8 / 5];
        int length = Huffman.Decode(encoded, decoded);
        Assert.Equal(raw, decoded[..length]);
    }
}
