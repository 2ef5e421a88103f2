using System.Buffers;
using MetaGpu.Rpc.Hpack;
using static MetaGpu.Tests.Hpack.HpackTestSupport;

namespace MetaGpu.Tests.Hpack;

/// <summary>RFC 7541 Appendix C, byte for byte, in both directions.</summary>
public class HpackRfcExampleTests
{
    private static readonly (string, string)[][] Requests =
    [
        [(":method", "GET"), (":scheme", "http"), (":path", "/"), (":authority", "www.example.com")],
        [(":method", "GET"), (":scheme", "http"), (":path", "/"), (":authority", "www.example.com"), ("cache-control", "no-cache")],
        [(":method", "GET"), (":scheme", "https"), (":path", "/index.html"), (":authority", "www.example.com"), ("custom-key", "custom-value")],
    ];

    private static readonly (string, string)[][] RequestTables =
    [
        [(":authority", "www.example.com")],
        [("cache-control", "no-cache"), (":authority", "www.example.com")],
        [("custom-key", "custom-value"), ("cache-control", "no-cache"), (":authority", "www.example.com")],
    ];

    private static readonly int[] RequestTableSizes = [57, 110, 164];

    private static readonly string[] C3Blocks =
    [
        "8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
        "8286 84be 5808 6e6f 2d63 6163 6865",
        "8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65",
    ];

    private static readonly string[] C4Blocks =
    [
        "8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff",
        "8286 84be 5886 a8eb 1064 9cbf",
        "8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf",
    ];

    private const string SetCookie = "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1";

    private static readonly (string, string)[][] Responses =
    [
        [(":status", "302"), ("cache-control", "private"), ("date", "Mon, 21 Oct 2013 20:13:21 GMT"), ("location", "https://www.example.com")],
        [(":status", "307"), ("cache-control", "private"), ("date", "Mon, 21 Oct 2013 20:13:21 GMT"), ("location", "https://www.example.com")],
        [(":status", "200"), ("cache-control", "private"), ("date", "Mon, 21 Oct 2013 20:13:22 GMT"), ("location", "https://www.example.com"), ("content-encoding", "gzip"), ("set-cookie", SetCookie)],
    ];

    private static readonly (string, string)[][] ResponseTables =
    [
        [("location", "https://www.example.com"), ("date", "Mon, 21 Oct 2013 20:13:21 GMT"), ("cache-control", "private"), (":status", "302")],
        [(":status", "307"), ("location", "https://www.example.com"), ("date", "Mon, 21 Oct 2013 20:13:21 GMT"), ("cache-control", "private")],
        [("set-cookie", SetCookie), ("content-encoding", "gzip"), ("date", "Mon, 21 Oct 2013 20:13:22 GMT")],
    ];

    private static readonly int[] ResponseTableSizes = [222, 222, 215];

    private static readonly string[] C5Blocks =
    [
        "4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133"
            + "2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
        "4803 3330 37c1 c0bf",
        "88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d"
            + "54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049"
            + "5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e 3d31",
    ];

    private static readonly string[] C6Blocks =
    [
        "4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6"
            + "2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3",
        "4883 640e ffc1 c0bf",
        "88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab"
            + "77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f"
            + "9587 3160 65c0 03ed 4ee5 b106 3d50 07",
    ];

    [Theory]
    [InlineData(10, 5, "0a")]
    [InlineData(1337, 5, "1f9a0a")]
    [InlineData(42, 8, "2a")]
    public void C1_IntegerRepresentation(int value, int prefixBits, string hex)
    {
        Span<byte> buffer = stackalloc byte[HpackInteger.MaxEncodedLength];
        int written = HpackInteger.Encode(value, prefixBits, 0, buffer);
        Assert.Equal(Hex(hex), buffer[..written].ToArray());

        // Bits above the prefix belong to the representation and must not leak into the value.
        byte[] withFlags = Hex(hex);
        if (prefixBits < 8)
        {
            withFlags[0] |= (byte)(0xFF << prefixBits);
        }

        int position = 0;
        Assert.Equal(value, HpackInteger.Decode(withFlags, ref position, prefixBits));
        Assert.Equal(withFlags.Length, position);
    }

    [Fact]
    public void C2_1_LiteralWithIndexing()
    {
        const string block = "400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572";
        var decoder = new HpackDecoder();
        Assert.Equal([("custom-key", "custom-header")], Decode(decoder, Hex(block)));
        Assert.Equal([("custom-key", "custom-header")], TableContents(decoder));
        Assert.Equal(55, decoder.DynamicTableSize);

        var encoder = new HpackEncoder { UseHuffman = false };
        Assert.Equal(Hex(block), EncodeBlock(encoder, [("custom-key", "custom-header")]));
        Assert.Equal(55, encoder.DynamicTableSize);
    }

    [Fact]
    public void C2_2_LiteralWithoutIndexing()
    {
        const string block = "040c 2f73 616d 706c 652f 7061 7468";
        var decoder = new HpackDecoder();
        Assert.Equal([(":path", "/sample/path")], Decode(decoder, Hex(block)));
        Assert.Equal(0, decoder.DynamicTableCount);
        Assert.Equal(0, decoder.DynamicTableSize);

        var encoder = new HpackEncoder { UseHuffman = false };
        Assert.Equal(Hex(block), EncodeBlock(encoder, [(":path", "/sample/path")], HpackIndexing.WithoutIndexing));
        Assert.Equal(0, encoder.DynamicTableCount);
    }

    [Fact]
    public void C2_3_LiteralNeverIndexed()
    {
        const string block = "1008 7061 7373 776f 7264 0673 6563 7265 74";
        var decoder = new HpackDecoder();
        Assert.Equal([("password", "secret")], Decode(decoder, Hex(block)));
        Assert.Equal(0, decoder.DynamicTableCount);

        var encoder = new HpackEncoder { UseHuffman = false };
        Assert.Equal(Hex(block), EncodeBlock(encoder, [("password", "secret")], HpackIndexing.NeverIndexed));
        Assert.Equal(0, encoder.DynamicTableCount);
    }

    [Fact]
    public void C2_4_IndexedField()
    {
        var decoder = new HpackDecoder();
        Assert.Equal([(":method", "GET")], Decode(decoder, Hex("82")));
        Assert.Equal(0, decoder.DynamicTableCount);

        var encoder = new HpackEncoder();
        Assert.Equal(Hex("82"), EncodeBlock(encoder, [(":method", "GET")]));
    }

    [Fact]
    public void C3_RequestsWithoutHuffman_Decode() => AssertDecodes(new HpackDecoder(), C3Blocks, Requests, RequestTables, RequestTableSizes);

    [Fact]
    public void C4_RequestsWithHuffman_Decode() => AssertDecodes(new HpackDecoder(), C4Blocks, Requests, RequestTables, RequestTableSizes);

    [Fact]
    public void C5_ResponsesWithoutHuffman_Decode() => AssertDecodes(new HpackDecoder(256), C5Blocks, Responses, ResponseTables, ResponseTableSizes);

    [Fact]
    public void C6_ResponsesWithHuffman_Decode() => AssertDecodes(new HpackDecoder(256), C6Blocks, Responses, ResponseTables, ResponseTableSizes);

    [Fact]
    public void C3_RequestsWithoutHuffman_Encode() => AssertEncodes(new HpackEncoder { UseHuffman = false }, C3Blocks, Requests, RequestTables, RequestTableSizes);

    [Fact]
    public void C4_RequestsWithHuffman_Encode() => AssertEncodes(new HpackEncoder(), C4Blocks, Requests, RequestTables, RequestTableSizes);

    [Fact]
    public void C5_ResponsesWithoutHuffman_Encode() =>
        AssertEncodes(new HpackEncoder(256) { UseHuffman = false }, WithInitialSizeUpdate(C5Blocks), Responses, ResponseTables, ResponseTableSizes);

    [Fact]
    public void C6_ResponsesWithHuffman_Encode()
    {
        // C.6.2 Huffman-codes "307" although that takes 3 octets, as many as the raw string. The
        // encoder only uses Huffman when it is strictly shorter, so that one value goes out raw
        // (83 640eff -> 03 333037); everything else, tables included, matches the RFC.
        string[] expected = WithInitialSizeUpdate(C6Blocks);
        Assert.Equal("4883 640e ffc1 c0bf", expected[1]);
        expected[1] = "4803 3330 37c1 c0bf";
        AssertEncodes(new HpackEncoder(256), expected, Responses, ResponseTables, ResponseTableSizes);
    }

    [Fact]
    public void C5_EncoderOutputWithSizeUpdate_DecodesOnDefaultDecoder()
    {
        // The peer's decoder starts at 4096; the 256-octet encoder announces its smaller table in
        // the first block, after which both evict exactly as in the RFC.
        var encoder = new HpackEncoder(256) { UseHuffman = false };
        var decoder = new HpackDecoder();
        for (int i = 0; i < Responses.Length; i++)
        {
            byte[] block = EncodeBlock(encoder, Responses[i]);
            Assert.Equal(Responses[i], Decode(decoder, block));
            Assert.Equal(256, decoder.DynamicTableMaxSize);
            Assert.Equal(ResponseTables[i], TableContents(decoder));
        }
    }

    /// <summary>
    /// The RFC's decoder already runs with a 256-octet table (SETTINGS_HEADER_TABLE_SIZE = 256). Our
    /// encoder assumes the HTTP/2 default of 4096 for the peer until told otherwise, so it must
    /// first announce 256 with a size update (001 11111 + 225 = 3f e1 01).
    /// </summary>
    private static string[] WithInitialSizeUpdate(string[] blocks) => ["3fe101" + blocks[0], .. blocks[1..]];

    private static void AssertDecodes(HpackDecoder decoder, string[] blocks, (string, string)[][] lists, (string, string)[][] tables, int[] sizes)
    {
        for (int i = 0; i < blocks.Length; i++)
        {
            Assert.Equal(lists[i], Decode(decoder, Hex(blocks[i])));
            Assert.Equal(tables[i], TableContents(decoder));
            Assert.Equal(sizes[i], decoder.DynamicTableSize);
            Assert.Equal(tables[i].Length, decoder.DynamicTableCount);
        }
    }

    private static void AssertEncodes(HpackEncoder encoder, string[] blocks, (string, string)[][] lists, (string, string)[][] tables, int[] sizes)
    {
        for (int i = 0; i < blocks.Length; i++)
        {
            Assert.Equal(Convert.ToHexString(Hex(blocks[i])), Convert.ToHexString(EncodeBlock(encoder, lists[i])));
            Assert.Equal(tables[i], TableContents(encoder));
            Assert.Equal(sizes[i], encoder.DynamicTableSize);
            Assert.Equal(tables[i].Length, encoder.DynamicTableCount);
        }
    }
}
