using System.Runtime.InteropServices;
using MetaGpu.Rpc.Http2;

namespace MetaGpu.Tests.Transport;

/// <summary>
/// A connection's pending output: whatever is written comes out in order, and no chunk is larger than what the shared
/// pool keeps, so a burst of large answers allocates nothing on the large-object heap (one growing array did).
/// </summary>
public sealed class OutputChunksTests
{
    [Fact]
    public void ABatchOfLargeFramesComesOutInOrderInChunksThePoolKeeps()
    {
        var random = new Random(5);
        using var output = new OutputChunks();
        var expected = new List<byte>();
        // Frames as a connection writes them: a 9-byte header asked for as one span, then a payload of any size.
        while (expected.Count < 1_000_000)
        {
            var header = output.GetSpan(9);
            Assert.True(header.Length >= 9);
            for (var i = 0; i < 9; i++)
                header[i] = (byte)random.Next(256);
            expected.AddRange(header[..9].ToArray());
            output.Advance(9);
            var payload = new byte[random.Next(0, 40_000)];
            random.NextBytes(payload);
            output.Write(payload);
            expected.AddRange(payload);
        }

        Assert.Equal(expected.Count, output.WrittenCount);
        var sent = new List<byte>();
        for (var i = 0; i < output.ChunkCount; i++)
        {
            Assert.True(MemoryMarshal.TryGetArray(output.Chunk(i), out var segment));
            Assert.True(segment.Array!.Length <= WireBuffers.LargestPooled, $"chunk {i}: a {segment.Array.Length}-byte array");
            sent.AddRange(output.Chunk(i).ToArray());
        }
        Assert.Equal(expected, sent);
    }

    [Fact]
    public void AHeaderThatDoesNotFitTheChunkStartsTheNextOneWhole()
    {
        using var output = new OutputChunks();
        var first = output.GetSpan(1);
        output.Write(new byte[first.Length - 3]);

        var header = output.GetSpan(9);
        header[..9].Fill(7);
        output.Advance(9);

        Assert.Equal(2, output.ChunkCount);
        Assert.Equal(first.Length - 3, output.Chunk(0).Length);
        Assert.Equal(Enumerable.Repeat((byte)7, 9), output.Chunk(1).ToArray());
    }

    [Fact]
    public void ResetGivesEveryChunkBackAndItsBytesToTheBudget()
    {
        var budget = new MemoryBudget(16 * 1024 * 1024);
        using var output = new OutputChunks(budget);
        output.Write(new byte[300_000]);
        Assert.True(budget.Current >= 300_000);
        Assert.True(output.ChunkCount > 1);

        output.Reset();

        Assert.Equal(0, budget.Current);
        Assert.Equal(0, output.WrittenCount);
        Assert.Equal(0, output.ChunkCount);
        output.Write([1, 2, 3]);
        Assert.Equal([1, 2, 3], output.Chunk(0).ToArray());
    }

    [Fact]
    public void AdvancePastTheRoomGivenIsRefused()
    {
        using var output = new OutputChunks();
        Assert.Throws<ArgumentOutOfRangeException>(() => output.Advance(1));
        var room = output.GetSpan(9).Length;
        Assert.Throws<ArgumentOutOfRangeException>(() => output.Advance(room + 1));
    }
}
