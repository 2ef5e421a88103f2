using System.Buffers;
using System.Text;
using MetaGpu.Rpc.Hpack;

namespace MetaGpu.Tests.Hpack;

/// <summary>Collects decoded fields as strings (Latin-1, so any byte round-trips).</summary>
internal sealed class RecordingSink : IHpackHeaderSink
{
    public List<(string Name, string Value)> Fields { get; } = [];

    public void OnHeader(ReadOnlySpan<byte> name, ReadOnlySpan<byte> value)
    {
        Fields.Add((Encoding.Latin1.GetString(name), Encoding.Latin1.GetString(value)));
    }
}

/// <summary>Discards fields: for tests that only care whether decoding throws.</summary>
internal sealed class NullSink : IHpackHeaderSink
{
    public static readonly NullSink Instance = new();

    public void OnHeader(ReadOnlySpan<byte> name, ReadOnlySpan<byte> value)
    {
    }
}

internal static class HpackTestSupport
{
    /// <summary>Parses RFC-style hex dumps ("8286 8441 ...").</summary>
    public static byte[] Hex(string hex) => Convert.FromHexString(hex.Replace(" ", "").Replace("\n", "").Replace("\r", ""));

    public static byte[] Latin1(string s) => Encoding.Latin1.GetBytes(s);

    public static List<(string Name, string Value)> Decode(HpackDecoder decoder, byte[] block)
    {
        var sink = new RecordingSink();
        decoder.Decode(block, sink);
        return sink.Fields;
    }

    /// <summary>Encodes one block of fields with the given encoder.</summary>
    public static byte[] EncodeBlock(HpackEncoder encoder, IEnumerable<(string Name, string Value)> fields, HpackIndexing indexing = HpackIndexing.Incremental)
    {
        var output = new ArrayBufferWriter<byte>();
        encoder.BeginBlock(output);
        foreach ((string name, string value) in fields)
        {
            encoder.Encode(output, name, value, indexing);
        }

        return output.WrittenSpan.ToArray();
    }

    /// <summary>Dynamic table contents, newest first.</summary>
    public static List<(string Name, string Value)> TableContents(HpackDecoder decoder) => TableContents(decoder.Table);

    public static List<(string Name, string Value)> TableContents(HpackEncoder encoder) => TableContents(encoder.Table);

    private static List<(string Name, string Value)> TableContents(HpackDynamicTable table)
    {
        var result = new List<(string, string)>();
        for (int i = 0; i < table.Count; i++)
        {
            result.Add((Encoding.Latin1.GetString(table.Name(i)), Encoding.Latin1.GetString(table.Value(i))));
        }

        return result;
    }
}
