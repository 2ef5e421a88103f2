using System.Buffers;
using CsCheck;
using MetaGpu.Rpc.Hpack;
using static MetaGpu.Tests.Hpack.HpackTestSupport;

namespace MetaGpu.Tests.Hpack;

/// <summary>Whatever a peer sends, the decoder fails only with HpackException (COMPRESSION_ERROR).</summary>
public class HpackHostileInputTests
{
    [Theory]
    [InlineData("80", "indexed field with index 0")]
    [InlineData("be", "index 62 with an empty dynamic table")]
    [InlineData("40 01 61 01 31 bf", "index 63 with one dynamic entry")]
    [InlineData("ff 80 80 80 80 08", "index far past the end")]
    [InlineData("7e 01 61", "literal naming index 62 with an empty dynamic table")]
    [InlineData("0f 2f 01 61", "literal without indexing naming index 62 with an empty table")]
    [InlineData("1f ff ff ff ff ff ff ff ff ff ff", "0x1f then ten 0xff: integer overflow")]
    [InlineData("ff ff ff ff ff 7f", "index above int.MaxValue")]
    [InlineData("00 7f ff ff ff ff 0f", "string length above int.MaxValue")]
    [InlineData("00 05 61 62", "string length past the end of the block")]
    [InlineData("00 01 61 7f 80 01", "value length past the end of the block")]
    [InlineData("00 81 1f 82 1f ff", "Huffman padding longer than 7 bits")]
    [InlineData("00 81 1f 81 1e", "Huffman padding containing a zero bit")]
    [InlineData("00 81 1f 84 ff ff ff ff", "EOS inside a Huffman string")]
    [InlineData("00 84 ff ff ff fc 01 61", "EOS inside a Huffman name")]
    [InlineData("3f e2 1f", "size update 4097 above the advertised 4096")]
    [InlineData("3f ff ff ff ff 0f", "size update beyond int range")]
    [InlineData("82 20", "size update after a field")]
    [InlineData("20 82 3f 00", "size update after a field, following a valid one")]
    [InlineData("40", "block ends after a literal's first octet")]
    [InlineData("40 01", "block ends inside the name")]
    [InlineData("40 01 61", "block ends before the value")]
    [InlineData("41", "block ends before the value of an indexed-name literal")]
    [InlineData("0f", "block ends inside a multi-octet index")]
    [InlineData("10 85", "block ends inside a Huffman name")]
    public void MalformedBlock_ThrowsHpackException(string hex, string why)
    {
        var decoder = new HpackDecoder();
        var exception = Assert.Throws<HpackException>(() => decoder.Decode(Hex(hex), NullSink.Instance));
        Assert.False(string.IsNullOrEmpty(exception.Message), why);
    }

    [Fact]
    public void SizeUpdateAboveASmallAdvertisedMaximum_Throws()
    {
        var decoder = new HpackDecoder(100);
        decoder.Decode(Hex("3f 45"), NullSink.Instance); // 100: fine
        Assert.Throws<HpackException>(() => decoder.Decode(Hex("3f 46"), NullSink.Instance)); // 101
    }

    [Fact]
    public void SizeUpdateAtTheStartOfTheNextBlock_IsFine()
    {
        var decoder = new HpackDecoder();
        decoder.Decode(Hex("82"), NullSink.Instance);
        Assert.Equal([(":method", "GET")], Decode(decoder, Hex("20 82")));
    }

    [Fact]
    public void EveryTruncation_OfRfcAndEncodedBlocks_FailsCleanlyOrDecodes()
    {
        var sequences = new List<(int Max, byte[][] Blocks)>
        {
            (4096, [Hex("8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff"), Hex("8286 84be 5886 a8eb 1064 9cbf"), Hex("8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf")]),
            (256, [Hex("4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6 2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3"),
                Hex("4883 640e ffc1 c0bf")]),
        };

        // And longer encoder output with every representation, size updates and long strings.
        var encoder = new HpackEncoder();
        var generated = new List<byte[]>();
        var random = new Random(7541);
        for (int b = 0; b < 4; b++)
        {
            if (b == 2)
            {
                encoder.SetPeerMaxTableSize(300);
                encoder.SetPeerMaxTableSize(2000);
            }

            var output = new ArrayBufferWriter<byte>();
            encoder.BeginBlock(output);
            for (int f = 0; f < 10; f++)
            {
                var value = new byte[random.Next(0, f == 9 ? 400 : 30)];
                random.NextBytes(value);
                encoder.Encode(output, f % 3 == 0 ? "content-type"u8 : "x-custom"u8, value, (HpackIndexing)(f % 3));
            }

            generated.Add(output.WrittenSpan.ToArray());
        }

        sequences.Add((4096, [.. generated]));

        foreach ((int max, byte[][] blocks) in sequences)
        {
            for (int target = 0; target < blocks.Length; target++)
            {
                for (int cut = 0; cut <= blocks[target].Length; cut++)
                {
                    var decoder = new HpackDecoder(max);
                    for (int previous = 0; previous < target; previous++)
                    {
                        decoder.Decode(blocks[previous], NullSink.Instance);
                    }

                    DecodeExpectingOnlyHpackException(decoder, blocks[target].AsSpan(0, cut).ToArray());
                }
            }
        }
    }

    [Fact]
    public void RandomBytes_OnlyEverThrowHpackException()
    {
        // A decoder primed with a populated table, so random indices also hit dynamic entries.
        byte[] primer = Hex("4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf 5886 a8eb 1064 9cbf 4082 9488 83aa bbcc");
        Gen.Select(Gen.Byte.Array[0, 300], Gen.Bool).Sample((bytes, primed) =>
        {
            var decoder = new HpackDecoder();
            if (primed)
            {
                try
                {
                    decoder.Decode(primer, NullSink.Instance);
                }
                catch (HpackException)
                {
                }
            }

            DecodeExpectingOnlyHpackException(decoder, bytes);
        }, iter: 20000);
    }

    [Fact]
    public void MutatedValidBlocks_OnlyEverThrowHpackException()
    {
        // Random bytes rarely get past the first octets; corrupting real blocks reaches deeper.
        var mutation = Gen.Select(Gen.Int[0, int.MaxValue], Gen.Byte, Gen.Int[0, 2]);
        Gen.Select(HpackGenerators.Block.Array[1, 4], mutation.Array[1, 4]).Sample((blocks, mutations) =>
        {
            var encoder = new HpackEncoder();
            var decoder = new HpackDecoder();
            for (int b = 0; b < blocks.Length; b++)
            {
                var output = new ArrayBufferWriter<byte>();
                encoder.BeginBlock(output);
                foreach (HeaderField field in blocks[b])
                {
                    encoder.Encode(output, field.Name, field.Value, field.Indexing);
                }

                var bytes = new List<byte>(output.WrittenSpan.ToArray());
                if (b == blocks.Length - 1 && bytes.Count > 0)
                {
                    foreach ((int position, byte value, int kind) in mutations)
                    {
                        int at = position % bytes.Count;
                        switch (kind)
                        {
                            case 0: bytes[at] = value; break;
                            case 1: bytes[at] ^= (byte)(1 << (value & 7)); break;
                            default: bytes.Insert(at, value); break;
                        }
                    }
                }

                if (!DecodeExpectingOnlyHpackException(decoder, [.. bytes]))
                {
                    return; // the connection would be gone; later blocks are meaningless
                }
            }
        }, iter: 2000);
    }

    /// <summary>Returns whether the block decoded; fails the test on any exception but HpackException.</summary>
    private static bool DecodeExpectingOnlyHpackException(HpackDecoder decoder, byte[] block)
    {
        try
        {
            decoder.Decode(block, NullSink.Instance);
            return true;
        }
        catch (HpackException)
        {
            return false;
        }
        catch (Exception e)
        {
            Assert.Fail($"{e.GetType().Name} for block {Convert.ToHexString(block)}: {e}");
            return false;
        }
    }
}
