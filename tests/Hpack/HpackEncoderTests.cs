using System.Buffers;
using MetaGpu.Rpc.Hpack;
using static MetaGpu.Tests.Hpack.HpackTestSupport;

namespace MetaGpu.Tests.Hpack;

public class HpackEncoderTests
{
    [Fact]
    public void StaticFullMatch_IsIndexed_EvenWithoutIndexing()
    {
        var encoder = new HpackEncoder();
        Assert.Equal(Hex("82 87 88"), EncodeBlock(encoder, [(":method", "GET"), (":scheme", "https"), (":status", "200")], HpackIndexing.WithoutIndexing));
        Assert.Equal(0, encoder.DynamicTableCount);
    }

    [Fact]
    public void RepeatedField_IsIndexedFromTheDynamicTable()
    {
        var encoder = new HpackEncoder { UseHuffman = false };
        Assert.Equal(Hex("40 01 78 01 79"), EncodeBlock(encoder, [("x", "y")]));
        Assert.Equal(Hex("be"), EncodeBlock(encoder, [("x", "y")]));

        // Same name, new value: literal naming the dynamic entry (index 62), then inserted.
        Assert.Equal(Hex("7e 01 7a"), EncodeBlock(encoder, [("x", "z")]));
        Assert.Equal(2, encoder.DynamicTableCount);
        Assert.Equal(Hex("bf be"), EncodeBlock(encoder, [("x", "y"), ("x", "z")]));
    }

    [Fact]
    public void StaticName_IsPreferredOverDynamicName()
    {
        var encoder = new HpackEncoder { UseHuffman = false };
        EncodeBlock(encoder, [("content-type", "a")]);
        // "content-type" is static index 31 (0x40 | 31 = 0x5f); the dynamic entry holds the same
        // name at 62, which would also need a second integer octet.
        Assert.Equal(Hex("5f 01 62"), EncodeBlock(encoder, [("content-type", "b")]));
    }

    [Fact]
    public void NeverIndexed_IsAlwaysALiteral()
    {
        var encoder = new HpackEncoder { UseHuffman = false };
        // Even a whole static match stays a literal, so the never-index flag reaches the peer.
        Assert.Equal(Hex("12 03 474554"), EncodeBlock(encoder, [(":method", "GET")], HpackIndexing.NeverIndexed));

        EncodeBlock(encoder, [("authorization", "token")]);
        Assert.Equal(1, encoder.DynamicTableCount);
        // authorization = static 23: 0001 + 15 then 8 (23 - 15).
        Assert.Equal(Hex("1f 08 05 746f6b656e"), EncodeBlock(encoder, [("authorization", "token")], HpackIndexing.NeverIndexed));
        Assert.Equal(1, encoder.DynamicTableCount);

        var decoder = new HpackDecoder();
        Assert.Equal([(":method", "GET")], Decode(decoder, Hex("12 03 474554")));
    }

    [Fact]
    public void WithoutIndexing_LeavesTheTableAlone()
    {
        var encoder = new HpackEncoder { UseHuffman = false };
        Assert.Equal(Hex("00 01 78 01 79"), EncodeBlock(encoder, [("x", "y")], HpackIndexing.WithoutIndexing));
        Assert.Equal(0, encoder.DynamicTableCount);
    }

    [Fact]
    public void FieldLargerThanTheTable_IsNotIndexed_AndKeepsExistingEntries()
    {
        var encoder = new HpackEncoder(64) { UseHuffman = false };
        var decoder = new HpackDecoder(64);
        encoder.SetPeerMaxTableSize(64);
        byte[] first = EncodeBlock(encoder, [("a", "b")]);
        Decode(decoder, first);

        byte[] block = EncodeBlock(encoder, [("big", new string('v', 40))]);
        Assert.Equal(0x00, block[0]); // literal without indexing, new name
        Assert.Equal(1, encoder.DynamicTableCount);

        Assert.Equal([("big", new string('v', 40))], Decode(decoder, block));
        Assert.Equal(1, decoder.DynamicTableCount);
    }

    [Fact]
    public void Huffman_IsUsedOnlyWhenStrictlyShorter()
    {
        var encoder = new HpackEncoder();
        // "307" is 3 octets either way: raw. "www.example.com": 12 < 15, Huffman (H bit set).
        Assert.Equal(Hex("08 03 333037"), EncodeBlock(encoder, [(":status", "307")], HpackIndexing.WithoutIndexing));
        Assert.Equal(Hex("01 8c f1e3c2e5f23a6ba0ab90f4ff"), EncodeBlock(encoder, [(":authority", "www.example.com")], HpackIndexing.WithoutIndexing));
        // An empty string is a single zero length octet.
        Assert.Equal(Hex("04 00"), EncodeBlock(encoder, [(":path", "")], HpackIndexing.WithoutIndexing));
    }

    [Fact]
    public void PeerSizeChange_IsAnnouncedAtTheNextBlock()
    {
        var encoder = new HpackEncoder();
        Assert.Empty(EncodeBlock(encoder, []));

        encoder.SetPeerMaxTableSize(100);
        Assert.Equal(Hex("3f 45"), EncodeBlock(encoder, [])); // 31 + 69
        Assert.Empty(EncodeBlock(encoder, []));

        // Same value again: nothing to announce.
        encoder.SetPeerMaxTableSize(100);
        Assert.Empty(EncodeBlock(encoder, []));
    }

    [Fact]
    public void PeerSizeAboveOwnLimit_IsCappedAtOwnLimit()
    {
        var encoder = new HpackEncoder(4096);
        encoder.SetPeerMaxTableSize(65536);
        Assert.Empty(EncodeBlock(encoder, []));

        var large = new HpackEncoder(8192);
        large.SetPeerMaxTableSize(65536);
        Assert.Equal(Hex("3f e1 3f"), EncodeBlock(large, [])); // 8192 = 31 + 8161
    }

    [Fact]
    public void OwnLimitBelowDefault_IsAnnouncedInTheFirstBlock()
    {
        var encoder = new HpackEncoder(0);
        Assert.Equal(Hex("20 82"), EncodeBlock(encoder, [(":method", "GET")]));
    }

    [Fact]
    public void ShrinkThenGrow_AnnouncesTheMinimumThenTheFinalSize_AndEvicts()
    {
        var encoder = new HpackEncoder { UseHuffman = false };
        var decoder = new HpackDecoder();
        Decode(decoder, EncodeBlock(encoder, [("a", "1"), ("b", "2")]));
        Assert.Equal(2, encoder.DynamicTableCount);

        encoder.SetPeerMaxTableSize(0);
        encoder.SetPeerMaxTableSize(4096);
        byte[] block = EncodeBlock(encoder, [("a", "1")]);
        // 0, then 4096 (31 + 4065 = e1 1f), then ("a", "1") is a fresh literal: the dip emptied the table.
        Assert.Equal(Hex("20 3f e1 1f 40 01 61 01 31"), block);
        Assert.Equal(1, encoder.DynamicTableCount);

        Assert.Equal([("a", "1")], Decode(decoder, block));
        Assert.Equal(1, decoder.DynamicTableCount);
        Assert.Equal(4096, decoder.DynamicTableMaxSize);
    }

    [Fact]
    public void GrowFromBelow_AnnouncesOnlyTheFinalSize()
    {
        var encoder = new HpackEncoder();
        encoder.SetPeerMaxTableSize(100);
        EncodeBlock(encoder, []);
        encoder.SetPeerMaxTableSize(200);
        encoder.SetPeerMaxTableSize(300);
        Assert.Equal(Hex("3f 8d 02"), EncodeBlock(encoder, [])); // 300 = 31 + 269
    }

    [Fact]
    public void SizeChangeInTheMiddleOfABlock_TakesEffectAtTheNextBlock()
    {
        var encoder = new HpackEncoder { UseHuffman = false };
        var decoder = new HpackDecoder();
        var output = new ArrayBufferWriter<byte>();
        encoder.BeginBlock(output);
        encoder.Encode(output, "a", "1");
        encoder.SetPeerMaxTableSize(0);
        encoder.Encode(output, "b", "2");
        Assert.Equal(2, encoder.DynamicTableCount);
        Decode(decoder, output.WrittenSpan.ToArray());

        byte[] next = EncodeBlock(encoder, [("a", "1")]);
        Assert.Equal(Hex("20 00 01 61 01 31"), next);
        Assert.Equal([("a", "1")], Decode(decoder, next));
        Assert.Equal(0, decoder.DynamicTableCount);
    }

    [Fact]
    public void StringOverload_HandlesLatin1AndLongValues_AndRejectsWideChars()
    {
        var encoder = new HpackEncoder();
        var decoder = new HpackDecoder();
        string latin1 = "caf\u00e9 \u00ff\u0080";
        string longValue = new('x', 5000);
        byte[] block = EncodeBlock(encoder, [("x-latin1", latin1), ("x-long", longValue)]);
        Assert.Equal([("x-latin1", latin1), ("x-long", longValue)], Decode(decoder, block));

        var output = new ArrayBufferWriter<byte>();
        Assert.Throws<ArgumentException>(() => encoder.Encode(output, "x-bad", "\u0100"));
        Assert.Throws<ArgumentException>(() => encoder.Encode(output, "x-\u20ac", "v"));
        Assert.Equal(0, output.WrittenCount);
    }

    [Fact]
    public void SpanOverload_MatchesStringOverload()
    {
        var a = new HpackEncoder();
        var b = new HpackEncoder();
        var outA = new ArrayBufferWriter<byte>();
        var outB = new ArrayBufferWriter<byte>();
        a.Encode(outA, "grpc-timeout"u8, "1S"u8);
        b.Encode(outB, "grpc-timeout", "1S");
        Assert.Equal(outA.WrittenSpan.ToArray(), outB.WrittenSpan.ToArray());
    }
}
