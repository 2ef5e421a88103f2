using System.Buffers;
using CsCheck;
using MetaGpu.Rpc.Hpack;
using static MetaGpu.Tests.Hpack.HpackTestSupport;

namespace MetaGpu.Tests.Hpack;

public class HpackRoundTripPropertyTests
{
    [Fact]
    public void ConsecutiveBlocks_RoundTrip_WithTablesInStep()
    {
        Gen.Select(HpackGenerators.Block.Array[1, 12], Gen.Bool).Sample((blocks, huffman) =>
        {
            var encoder = new HpackEncoder { UseHuffman = huffman };
            var decoder = new HpackDecoder();
            foreach (HeaderField[] block in blocks)
            {
                var output = new ArrayBufferWriter<byte>();
                encoder.BeginBlock(output);
                foreach (HeaderField field in block)
                {
                    encoder.Encode(output, field.Name, field.Value, field.Indexing);
                }

                AssertDecodesTo(decoder, output.WrittenSpan.ToArray(), block);
                AssertTablesInStep(encoder, decoder);
            }
        }, iter: 200);
    }

    private sealed record BlockPlan(int[] SizesBefore, int? SizeMidBlock, HeaderField[] Fields);

    [Fact]
    public void ConsecutiveBlocks_RoundTrip_WithPeerTableSizeChanges()
    {
        // Sizes are drawn as per-mille of the decoder's advertised maximum, so they never exceed it.
        var perMille = Gen.Frequency<int>((1, Gen.Const(0)), (1, Gen.Const(1000)), (4, Gen.Int[0, 1000]));
        var plan = Gen.Select(
            perMille.Array[0, 3],
            Gen.Frequency<int?>((4, Gen.Const((int?)null)), (1, perMille.Select(p => (int?)p))),
            HpackGenerators.Block,
            (before, mid, fields) => new BlockPlan(before, mid, fields));
        var advertised = Gen.OneOf(0, 1, 64, 256, 4096, 8192);
        var own = Gen.OneOf(0, 64, 256, 4096, 65536);

        Gen.Select(advertised, own, plan.Array[1, 12]).Sample((decoderMax, encoderMax, plans) =>
        {
            var encoder = new HpackEncoder(encoderMax);
            var decoder = new HpackDecoder(decoderMax);
            encoder.SetPeerMaxTableSize(decoderMax); // the peer's SETTINGS arrive before our first request
            foreach (BlockPlan p in plans)
            {
                foreach (int size in p.SizesBefore)
                {
                    encoder.SetPeerMaxTableSize((int)((long)decoderMax * size / 1000));
                }

                var output = new ArrayBufferWriter<byte>();
                encoder.BeginBlock(output);
                for (int i = 0; i < p.Fields.Length; i++)
                {
                    if (i == 1 && p.SizeMidBlock is int mid)
                    {
                        encoder.SetPeerMaxTableSize((int)((long)decoderMax * mid / 1000));
                    }

                    encoder.Encode(output, p.Fields[i].Name, p.Fields[i].Value, p.Fields[i].Indexing);
                }

                AssertDecodesTo(decoder, output.WrittenSpan.ToArray(), p.Fields);
                AssertTablesInStep(encoder, decoder);
                Assert.InRange(decoder.DynamicTableSize, 0, decoder.DynamicTableMaxSize);
                Assert.InRange(decoder.DynamicTableMaxSize, 0, Math.Min(decoderMax, encoderMax));
            }
        }, iter: 200);
    }

    [Fact]
    public void SteadyStateDecoding_DoesNotAllocate()
    {
        // gRPC-like traffic: recurring request headers, a changing request id (incremental, so the
        // table keeps evicting) and Huffman strings for the scratch buffer.
        var encoder = new HpackEncoder();
        var blocks = new List<byte[]>();
        for (int i = 0; i < 2000; i++)
        {
            blocks.Add(EncodeBlock(encoder,
            [
                (":method", "POST"), (":scheme", "http"), (":path", "/v1beta1.DevicePlugin/Allocate"),
                (":authority", "localhost"), ("content-type", "application/grpc"), ("te", "trailers"),
                ("x-request-id", $"req-{i:x8}-{i * 7919 % 100000}"), ("grpc-timeout", $"{i % 50}m"),
            ]));
        }

        var decoder = new HpackDecoder();
        for (int i = 0; i < 1000; i++)
        {
            decoder.Decode(blocks[i], NullSink.Instance);
        }

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 1000; i < blocks.Count; i++)
        {
            decoder.Decode(blocks[i], NullSink.Instance);
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    private static void AssertDecodesTo(HpackDecoder decoder, byte[] block, HeaderField[] expected)
    {
        var sink = new RecordingSink();
        decoder.Decode(block, sink);
        Assert.Equal(expected.Select(f => f.AsStrings()).ToList(), sink.Fields);
    }

    private static void AssertTablesInStep(HpackEncoder encoder, HpackDecoder decoder)
    {
        Assert.Equal(encoder.DynamicTableSize, decoder.DynamicTableSize);
        Assert.Equal(encoder.DynamicTableCount, decoder.DynamicTableCount);
        Assert.Equal(encoder.Table.MaxSize, decoder.DynamicTableMaxSize);
        Assert.Equal(TableContents(encoder), TableContents(decoder));
    }
}
