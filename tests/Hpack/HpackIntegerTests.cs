using MetaGpu.Rpc.Hpack;
using static MetaGpu.Tests.Hpack.HpackTestSupport;

namespace MetaGpu.Tests.Hpack;

public class HpackIntegerTests
{
    public static TheoryData<int, int> Boundaries()
    {
        var data = new TheoryData<int, int>();
        for (int prefix = 1; prefix <= 8; prefix++)
        {
            int max = (1 << prefix) - 1;
            foreach (int value in new[] { 0, max - 1, max, max + 1, max + 127, max + 128, 1337, 4096, 65535, int.MaxValue - 1, int.MaxValue })
            {
                if (value >= 0)
                {
                    data.Add(value, prefix);
                }
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Boundaries))]
    public void Boundaries_RoundTrip(int value, int prefixBits)
    {
        Span<byte> buffer = stackalloc byte[HpackInteger.MaxEncodedLength + 1];
        buffer.Fill(0xEE);
        int written = HpackInteger.Encode(value, prefixBits, 0, buffer);
        Assert.InRange(written, 1, HpackInteger.MaxEncodedLength);
        Assert.Equal(0xEE, buffer[written]);

        int position = 0;
        Assert.Equal(value, HpackInteger.Decode(buffer[..written], ref position, prefixBits));
        Assert.Equal(written, position);
    }

    [Theory]
    [InlineData("1f ff ff ff ff 0f", 5, "just above int.MaxValue")]
    [InlineData("1f ff ff ff ff ff ff ff ff ff ff", 5, "0x1f followed by ten 0xff")]
    [InlineData("ff ff ff ff ff 7f", 8, "about 2^35")]
    [InlineData("1f 80 80 80 80 80 00", 5, "six continuation octets, even though the value is small")]
    [InlineData("1f 80", 5, "cut off after a continuation octet")]
    [InlineData("1f", 5, "cut off after the prefix")]
    public void Malformed_ThrowsHpackException(string hex, int prefixBits, string why)
    {
        byte[] bytes = Hex(hex);
        var exception = Assert.Throws<HpackException>(() =>
        {
            int position = 0;
            HpackInteger.Decode(bytes, ref position, prefixBits);
        });
        Assert.False(string.IsNullOrEmpty(exception.Message), why);
    }

    [Fact]
    public void IntMaxValue_WithFivePrefixBits_Decodes()
    {
        // 2^31 - 1 - 31 = 2147483616 needs exactly five continuation octets.
        byte[] bytes = Hex("1f e0 ff ff ff 07");
        int position = 0;
        Assert.Equal(int.MaxValue, HpackInteger.Decode(bytes, ref position, 5));
    }
}
