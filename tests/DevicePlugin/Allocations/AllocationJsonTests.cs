using System.Text;
using CsCheck;
using MetaGpu.DevicePlugin;
using MetaGpu.DevicePlugin.Allocations;

namespace MetaGpu.Tests.DevicePlugin.Allocations;

/// <summary>The allocation file's JSON: exactly the documented bytes, read back whole, and nothing else read at all.</summary>
public sealed class AllocationJsonTests
{
    private static byte[] Bytes(string s) => Encoding.UTF8.GetBytes(s);

    [Fact]
    public void TheSampleIsWrittenExactlyAsDocumented()
    {
        var record = AllocationSamples.Record();
        Assert.Equal(AllocationSamples.Json, Encoding.UTF8.GetString(AllocationJson.Write(record)));
        // The same memory arithmetic as METAGPU_MAX_MEM: 16384 MiB × 2/4 + 16384 MiB × 1/4.
        Assert.Equal(12288UL, record.MemoryLimitMiB);
    }

    [Fact]
    public void TheDocumentedJsonReadsBackAsTheRecord()
    {
        var read = AllocationJson.TryRead(Bytes(AllocationSamples.Json));
        Assert.NotNull(read);
        Assert.Equal(AllocationSamples.Record(), read);
        Assert.Equal(AllocationSamples.Key, read.Key);
        Assert.Equal([$"cnvrg-meta-0-0-{AllocationSamples.Uuid0}", $"cnvrg-meta-0-1-{AllocationSamples.Uuid0}", $"cnvrg-meta-1-3-{AllocationSamples.Uuid1}"], read.DeviceIds);
        Assert.Equal(new AllocationGpu(AllocationSamples.Uuid1, 1, 1, 4, 0.25, 4096), read.Gpus[1]);
    }

    [Fact]
    public void MembersInAnotherOrderAndUnknownMembersAreAccepted()
    {
        var text = AllocationSamples.Json.Replace("\"schemaVersion\": 1,", "\"schemaVersion\": 1, \"future\": {\"a\": [1, 2]},")
            .Replace("\"request\": 3,\n", "").Replace("\"deviceIds\": [", "\"request\": 3, \"deviceIds\": [");
        Assert.Equal(AllocationSamples.Record(), AllocationJson.TryRead(Bytes(text)));
    }

    /// <summary>Random records of random plans: written, read back equal, written again to the same bytes.</summary>
    [Fact]
    public void RoundTripsAnyRecord()
    {
        var gpu = Gen.Select(Gen.Int[1, 1000], Gen.ULong[0, 1UL << 44], Gen.Int[1, 1000]);
        Gen.Select(gpu.Array[1, 8], Gen.String[Gen.Char['a', 'z'], 1, 20]).Sample((gpus, name) =>
        {
            var shares = new List<GpuShare>();
            var ids = new List<string>();
            for (var i = 0; i < gpus.Length; i++)
            {
                var (metaGpus, memory, given) = gpus[i];
                var planned = new PlannedGpu($"GPU-{i:x8}-{name}", i, metaGpus, null, memory);
                var count = Math.Min(given, metaGpus);
                shares.Add(new GpuShare(planned, count));
                ids.AddRange(Enumerable.Range(0, count).Select(s => new MetaDeviceId(i, s, planned.Uuid).ToString()));
            }
            var record = AllocationRecord.Create($"example.com/{name}", ids, new AllocationShape(shares, ids.Count, 1, false));
            var bytes = AllocationJson.Write(record);
            var read = AllocationJson.TryRead(bytes);
            Assert.Equal(record, read);
            Assert.Equal(bytes, AllocationJson.Write(read!));
        }, iter: 300);
    }

    public static TheoryData<string, string> Broken() => new()
    {
        { "version 2", AllocationSamples.Json.Replace("\"schemaVersion\": 1", "\"schemaVersion\": 2") },
        { "version as a string", AllocationSamples.Json.Replace("\"schemaVersion\": 1", "\"schemaVersion\": \"1\"") },
        { "no version", AllocationSamples.Json.Replace("\"schemaVersion\": 1,", "") },
        { "a member twice", AllocationSamples.Json.Replace("\"request\": 3,", "\"request\": 3, \"request\": 3,") },
        { "the key of other IDs", AllocationSamples.Json.Replace(AllocationSamples.Key, "0000000000000000000000000000000000000000") },
        { "a key that is no key", AllocationSamples.Json.Replace(AllocationSamples.Key, "../../etc/passwd") },
        { "a count that is not the IDs'", AllocationSamples.Json.Replace("\"request\": 3", "\"request\": 4") },
        { "GPU totals that are not the record's", AllocationSamples.Json.Replace("\"memoryLimitMiB\": 12288", "\"memoryLimitMiB\": 12289") },
        { "more given than the GPU has", AllocationSamples.Json.Replace("\"metaDevices\": 1,\n      \"metaGpus\": 4", "\"metaDevices\": 1,\n      \"metaGpus\": 0") },
        // Same set, same key: only the order is wrong.
        { "IDs out of order", AllocationSamples.Json.Replace("cnvrg-meta-0-0-", "cnvrg-meta-0-X-").Replace("cnvrg-meta-0-1-", "cnvrg-meta-0-0-").Replace("cnvrg-meta-0-X-", "cnvrg-meta-0-1-") },
        { "an ID twice", AllocationSamples.Json.Replace("cnvrg-meta-0-1-", "cnvrg-meta-0-0-") },
        { "a negative memory", AllocationSamples.Json.Replace("\"memoryLimitMiB\": 4096", "\"memoryLimitMiB\": -4096") },
        { "a fractional count", AllocationSamples.Json.Replace("\"request\": 3", "\"request\": 3.0") },
        { "a share above 1", AllocationSamples.Json.Replace("\"share\": 0.25", "\"share\": 2.5") },
        { "no GPUs", AllocationSamples.Json.Replace("\"gpus\": [", "\"gpus\": [], \"old\": [") },
        { "trailing garbage", AllocationSamples.Json + "{}" },
        { "a comment", "// hi\n" + AllocationSamples.Json },
        { "an array", "[" + AllocationSamples.Json + "]" },
        { "truncated", AllocationSamples.Json[..^10] },
        { "empty", "" },
        { "null", "null" },
    };

    [Theory]
    [MemberData(nameof(Broken))]
    public void AnythingTheWriterCouldNotHaveWrittenReadsAsNull(string what, string json) =>
        Assert.True(AllocationJson.TryRead(Bytes(json)) is null, what);

    /// <summary>Found by <see cref="MutatedFilesNeverThrow"/>: the JSON reader lets invalid UTF-8 through to GetString, which throws.</summary>
    [Fact]
    public void InvalidUtf8InAStringReadsAsNull()
    {
        var bytes = Bytes(AllocationSamples.Json);
        var at = AllocationSamples.Json.IndexOf("cnvrg.io", StringComparison.Ordinal);
        bytes[at] = 0xff;
        Assert.Null(AllocationJson.TryRead(bytes));
        // Also where no member is ever read: a file that is not UTF-8 is not JSON.
        var text = AllocationSamples.Json.Replace("\"schemaVersion\"", "\"x\": \"ab\",\n  \"schemaVersion\"");
        Assert.NotNull(AllocationJson.TryRead(Bytes(text)));
        bytes = Bytes(text);
        bytes[text.IndexOf("ab", StringComparison.Ordinal)] = 0xc3; // a lead byte without its continuation
        Assert.Null(AllocationJson.TryRead(bytes));
    }

    [Fact]
    public void AFileOverTheLimitIsNotParsed()
    {
        // Valid JSON padded with spaces past the limit: refused for its size alone.
        var padded = Bytes(AllocationSamples.Json + new string(' ', AllocationJson.MaxBytes));
        Assert.Null(AllocationJson.TryRead(padded));
        var justUnder = Bytes(AllocationSamples.Json + new string(' ', AllocationJson.MaxBytes - AllocationSamples.Json.Length));
        Assert.NotNull(AllocationJson.TryRead(justUnder));
    }

    [Fact]
    public void DeepNestingIsRefusedNotRecursedInto()
    {
        var deep = "{\"x\":" + new string('[', 100_000) + new string(']', 100_000) + "}";
        Assert.Null(AllocationJson.TryRead(Bytes(deep)));
    }

    [Fact]
    public void RandomBytesNeverThrow() =>
        Gen.Byte.Array[0, 600].Sample(bytes => Assert.Null(AllocationJson.TryRead(bytes)), iter: 20_000);

    /// <summary>The documented file with bytes changed, inserted or removed: a record or null, never an exception.</summary>
    [Fact]
    public void MutatedFilesNeverThrow()
    {
        var original = Bytes(AllocationSamples.Json);
        var alphabet = "\"{}[],:1-e\\ "u8.ToArray().Append((byte)0xff).ToArray();
        var mutation = Gen.Select(Gen.Int[0, original.Length - 1], Gen.Int[0, alphabet.Length - 1].Select(i => alphabet[i]), Gen.Int[0, 2]);
        mutation.Array[1, 6].Sample(mutations =>
        {
            var bytes = original.ToList();
            foreach (var (at, b, kind) in mutations)
            {
                var i = Math.Min(at, bytes.Count - 1);
                if (bytes.Count == 0)
                    break;
                switch (kind)
                {
                    case 0: bytes[i] = b; break;
                    case 1: bytes.Insert(i, b); break;
                    default: bytes.RemoveAt(i); break;
                }
            }
            var read = AllocationJson.TryRead(bytes.ToArray());
            // Whatever survives is a consistent record: its key is its IDs' key.
            if (read is not null)
                Assert.Equal(AllocationKey.For(read.Resource, read.DeviceIds), read.Key);
        }, iter: 20_000);
    }
}
