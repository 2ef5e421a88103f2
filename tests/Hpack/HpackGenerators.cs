using System.Text;
using CsCheck;
using MetaGpu.Rpc.Hpack;

namespace MetaGpu.Tests.Hpack;

internal sealed record HeaderField(byte[] Name, byte[] Value, HpackIndexing Indexing)
{
    public (string, string) AsStrings() => (Encoding.Latin1.GetString(Name), Encoding.Latin1.GetString(Value));

    public override string ToString() => $"{Encoding.Latin1.GetString(Name)}: {Encoding.Latin1.GetString(Value)} ({Indexing})";
}

/// <summary>Header lists shaped like real traffic: recurring names and values, plus noise.</summary>
internal static class HpackGenerators
{
    private static readonly byte[][] StaticNames = BuildStaticNames();

    private static readonly byte[][] CustomNames =
        [.. new[] { "grpc-status", "grpc-message", "grpc-timeout", "grpc-encoding", "te", "x-request-id", "x-trace" }.Select(Encoding.ASCII.GetBytes)];

    private static readonly byte[][] CommonValues =
        [.. new[] { "GET", "POST", "200", "404", "/", "/index.html", "http", "https", "gzip, deflate", "application/grpc", "trailers", "0", "1S", "gzip" }.Select(Encoding.ASCII.GetBytes)];

    private static readonly byte[] NameBytes = "abcdefghijklmnopqrstuvwxyz0123456789-_.:"u8.ToArray();

    private static readonly byte[] PrintableBytes = BuildPrintable();

    public static readonly Gen<byte[]> Name = Gen.Frequency<byte[]>(
        (3, Gen.OneOf(StaticNames)),
        (3, Gen.OneOf(CustomNames)),
        (3, Gen.OneOf(NameBytes).Array[1, 24]),
        (1, Gen.OneOf(NameBytes).Array[25, 300]));

    public static readonly Gen<byte[]> Value = Gen.Frequency<byte[]>(
        (2, Gen.Const(Array.Empty<byte>())),
        (4, Gen.OneOf(CommonValues)),
        (3, Gen.Byte.Array[1, 40]),
        (3, Gen.OneOf(PrintableBytes).Array[1, 100]),
        (1, Gen.Byte.Array[100, 3000]));

    public static readonly Gen<HpackIndexing> Indexing = Gen.Frequency<HpackIndexing>(
        (6, Gen.Const(HpackIndexing.Incremental)),
        (2, Gen.Const(HpackIndexing.WithoutIndexing)),
        (1, Gen.Const(HpackIndexing.NeverIndexed)));

    public static readonly Gen<HeaderField> Field = Gen.Select(Name, Value, Indexing, (n, v, i) => new HeaderField(n, v, i));

    public static readonly Gen<HeaderField[]> Block = Field.Array[0, 12];

    private static byte[][] BuildStaticNames()
    {
        var names = new List<byte[]>();
        for (int i = 1; i <= HpackStaticTable.Count; i++)
        {
            names.Add(HpackStaticTable.Name(i).ToArray());
        }

        return [.. names];
    }

    private static byte[] BuildPrintable()
    {
        var bytes = new byte[0x7f - 0x20];
        for (int i = 0; i < bytes.Length; i++)
        {
            bytes[i] = (byte)(0x20 + i);
        }

        return bytes;
    }
}
