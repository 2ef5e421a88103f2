using MetaGpu.Rpc.Hpack;
using MetaGpu.Rpc.Http2;

namespace MetaGpu.Fuzz.Targets;

/// <summary>
/// The HPACK decoder (Rpc/Hpack/HpackDecoder.cs) over the header blocks of one connection, in order, so the dynamic
/// table carries over. Input layout: blocks, each a 2-byte big-endian length and that many bytes (the last block
/// takes whatever is left). Refusing a block with <see cref="HpackException"/> is correct (the connection would
/// close); anything else escaping is a finding. Every accepted block is also checked against the encoder: our
/// <see cref="HpackEncoder"/> re-encodes the fields and a second decoder must read back the same list.
/// </summary>
internal sealed class HpackTarget : IFuzzTarget
{
    public void Run(ReadOnlySpan<byte> input)
    {
        var decoder = new HpackDecoder();
        var encoder = new HpackEncoder();
        var checker = new HpackDecoder();
        var decoded = new FieldList();
        var reread = new FieldList();
        using var encoded = new PooledBufferWriter(1024);
        while (!input.IsEmpty)
        {
            ReadOnlySpan<byte> block;
            if (input.Length < 2)
            {
                block = input;
                input = default;
            }
            else
            {
                var length = Math.Min((input[0] << 8) | input[1], input.Length - 2);
                block = input.Slice(2, length);
                input = input[(2 + length)..];
            }

            decoded.Clear();
            try
            {
                decoder.Decode(block, decoded);
            }
            catch (HpackException)
            {
                return;
            }
            if (decoder.DynamicTableSize > decoder.DynamicTableMaxSize)
                throw new FuzzFinding($"dynamic table holds {decoder.DynamicTableSize} octets, over its maximum of {decoder.DynamicTableMaxSize}");

            encoded.Reset();
            encoder.BeginBlock(encoded);
            foreach (var (name, value) in decoded.Fields)
                encoder.Encode(encoded, name, value);
            reread.Clear();
            checker.Decode(encoded.WrittenSpan, reread);
            if (!decoded.SameAs(reread))
                throw new FuzzFinding($"re-encoding {decoded.Fields.Count} decoded fields with HpackEncoder read back as {reread.Fields.Count} different ones");
        }
    }

    private sealed class FieldList : IHpackHeaderSink
    {
        public List<(byte[] Name, byte[] Value)> Fields { get; } = [];

        public void Clear() => Fields.Clear();

        public void OnHeader(ReadOnlySpan<byte> name, ReadOnlySpan<byte> value) => Fields.Add((name.ToArray(), value.ToArray()));

        public bool SameAs(FieldList other)
        {
            if (other.Fields.Count != Fields.Count)
                return false;
            for (var i = 0; i < Fields.Count; i++)
            {
                if (!Fields[i].Name.AsSpan().SequenceEqual(other.Fields[i].Name) || !Fields[i].Value.AsSpan().SequenceEqual(other.Fields[i].Value))
                    return false;
            }
            return true;
        }
    }
}
