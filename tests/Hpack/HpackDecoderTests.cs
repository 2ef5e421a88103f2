using MetaGpu.Rpc.Hpack;
using static MetaGpu.Tests.Hpack.HpackTestSupport;

namespace MetaGpu.Tests.Hpack;

public class HpackDecoderTests
{
    [Fact]
    public void InitialMaximum_IsTheSmallerOfAdvertisedAndHttp2Default()
    {
        Assert.Equal(4096, new HpackDecoder().DynamicTableMaxSize);
        Assert.Equal(256, new HpackDecoder(256).DynamicTableMaxSize);
        Assert.Equal(0, new HpackDecoder(0).DynamicTableMaxSize);

        // A larger advertised table is only used once the peer announces it.
        var decoder = new HpackDecoder(8192);
        Assert.Equal(4096, decoder.DynamicTableMaxSize);
        decoder.Decode(Hex("3f e1 3f"), NullSink.Instance); // 8192
        Assert.Equal(8192, decoder.DynamicTableMaxSize);
    }

    [Fact]
    public void SizeUpdates_AtTheStartOfABlock_AreApplied_AndEvict()
    {
        var decoder = new HpackDecoder();
        decoder.Decode(Hex("40 01 61 01 31 40 01 62 01 32"), NullSink.Instance); // a: 1, b: 2
        Assert.Equal(2, decoder.DynamicTableCount);
        Assert.Equal(68, decoder.DynamicTableSize);

        // Two updates (the dip, then the final size) followed by a field referring to the table.
        Assert.Equal([("b", "2")], Decode(decoder, Hex("3f 03 3f e1 1f be")));
        Assert.Equal(4096, decoder.DynamicTableMaxSize);
        Assert.Equal(1, decoder.DynamicTableCount);
        Assert.Equal(34, decoder.DynamicTableSize);

        Assert.Empty(Decode(decoder, Hex("20")));
        Assert.Equal(0, decoder.DynamicTableMaxSize);
        Assert.Equal(0, decoder.DynamicTableCount);
    }

    [Fact]
    public void EmptyBlock_DecodesToNothing()
    {
        var decoder = new HpackDecoder();
        Assert.Empty(Decode(decoder, []));
    }

    [Fact]
    public void LiteralNamingAnEntryItsInsertEvicts_KeepsTheName()
    {
        // RFC 7541 4.4: the new entry may reference the name of an entry that is evicted when the
        // new entry is added. Table of 80: "b"/"x" then "name-a"/"1" (39) fill it; the third field
        // names entry 62 ("name-a") with a value big enough to evict both.
        var decoder = new HpackDecoder(80);
        decoder.Decode(Hex("40 01 62 01 78 40 06 6e616d652d61 01 31"), NullSink.Instance);
        Assert.Equal(2, decoder.DynamicTableCount);

        Assert.Equal([("name-a", "0123456789")], Decode(decoder, Hex("7e 0a 30313233343536373839")));
        Assert.Equal([("name-a", "0123456789")], TableContents(decoder));
        Assert.Equal(48, decoder.DynamicTableSize);
        Assert.Equal([("name-a", "0123456789")], Decode(decoder, Hex("be")));
    }

    [Fact]
    public void NeverIndexedAndWithoutIndexing_WithLongIndices_Decode()
    {
        var decoder = new HpackDecoder();
        decoder.Decode(Hex("40 01 61 01 31"), NullSink.Instance);

        // 4-bit prefix: index 62 = 15 + 47.
        Assert.Equal([("a", "2")], Decode(decoder, Hex("0f 2f 01 32")));
        Assert.Equal([("a", "3")], Decode(decoder, Hex("1f 2f 01 33")));
        Assert.Equal([("www-authenticate", "x")], Decode(decoder, Hex("0f 2e 01 78"))); // static 61
        Assert.Equal(1, decoder.DynamicTableCount);
    }

    [Fact]
    public void HuffmanNameAndValue_InOneField_BothSurvive()
    {
        // Both strings are decoded into the scratch buffer; the value must not overwrite the name,
        // including when the buffer has to grow between the two.
        var encoder = new HpackEncoder();
        var decoder = new HpackDecoder();
        string longValue = string.Concat(Enumerable.Repeat("abcdefghij", 300));
        byte[] block = EncodeBlock(encoder, [("custom-key", "custom-value"), ("x-small", "v"), ("x-name-two", longValue)], HpackIndexing.WithoutIndexing);
        Assert.Equal([("custom-key", "custom-value"), ("x-small", "v"), ("x-name-two", longValue)], Decode(decoder, block));
    }
}
