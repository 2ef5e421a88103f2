using Google.Protobuf;
using MetaGpu.DevicePlugin;

namespace MetaGpu.Tests.DevicePlugin;

/// <summary>
/// Our protobuf readers of the kubelet's requests (<see cref="KubeletQuery"/>) against Google.Protobuf's: each side
/// reads into one comparable text, or null where it refuses the bytes.
/// </summary>
internal static class ReaderComparison
{
    /// <summary>What <paramref name="read"/> makes of the bytes, or null where a reader refuses them as malformed.</summary>
    public static string? TextOrRefused(Func<string> read)
    {
        try
        {
            return read();
        }
        catch (Exception e) when (e is InvalidProtocolBufferException or ProtobufWireException)
        {
            return null;
        }
    }

    /// <summary>
    /// Random damage to real requests (bytes changed, cut, repeated, inserted), read by both sides: the inputs they
    /// read differently (at most five), and how many Google.Protobuf refused.
    /// </summary>
    public static (List<string> Disagreements, int Refused) OnDamaged(IReadOnlyList<byte[]> seeds, int runs, int seed,
        Func<byte[], string?> theirs, Func<byte[], string?> ours)
    {
        var random = new Random(seed);
        var disagreements = new List<string>();
        var refused = 0;
        for (var run = 0; run < runs && disagreements.Count < 5; run++)
        {
            var bytes = seeds[random.Next(seeds.Count)].ToList();
            for (var edits = random.Next(1, 4); edits > 0 && bytes.Count > 0; edits--)
            {
                var at = random.Next(bytes.Count);
                switch (random.Next(4))
                {
                    case 0: bytes[at] = (byte)random.Next(256); break;
                    case 1: bytes.RemoveRange(at, bytes.Count - at); break;
                    case 2: bytes.InsertRange(at, bytes.GetRange(at, Math.Min(bytes.Count - at, random.Next(1, 8)))); break;
                    default: bytes.Insert(at, (byte)random.Next(256)); break;
                }
            }
            var input = bytes.ToArray();
            var theirText = theirs(input);
            var ourText = ours(input);
            if (theirText is null)
                refused++;
            if (theirText != ourText)
                disagreements.Add($"{Convert.ToHexString(input)}: Google.Protobuf {theirText ?? "refuses"}, ours {ourText ?? "refuses"}");
        }
        return (disagreements, refused);
    }
}
