using System.Text;
using MetaGpu.Rpc.Http2;

namespace MetaGpu.Tests.Transport;

/// <summary>A connection's repeated header texts decode to the same string each time, and anything decodes right.</summary>
public sealed class HeaderStringsTests
{
    [Fact]
    public void ARepeatedValueIsTheSameStringAndAllocatesNothing()
    {
        var seen = new HeaderStrings();
        var path = "/v1beta1.DevicePlugin/GetPreferredAllocation"u8.ToArray();
        var first = seen.Get(path);
        Assert.Equal("/v1beta1.DevicePlugin/GetPreferredAllocation", first);
        Assert.Same(first, seen.Get(path.AsSpan()));
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 100; i++)
            Assert.Same(first, seen.Get(path));
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    [Fact]
    public void EveryTextDecodesToItsLatin1StringWhateverTheSlots()
    {
        var seen = new HeaderStrings();
        var random = new Random(3);
        var texts = new List<byte[]>();
        for (var i = 0; i < 500; i++)
        {
            var t = new byte[random.Next(0, HeaderStrings.MaxLength + 40)];
            random.NextBytes(t);
            texts.Add(t);
        }
        // Many more texts than slots, in a random order and repeated: each comes back as its own string.
        for (var round = 0; round < 3; round++)
        {
            foreach (var t in texts.OrderBy(_ => random.Next()))
                Assert.Equal(Encoding.Latin1.GetString(t), seen.Get(t));
        }
    }

    [Fact]
    public void TwoTextsOfTheSameSlotBothDecodeRight()
    {
        // Same length, same last and middle byte: the same slot; each replaces the other and is still itself.
        var seen = new HeaderStrings();
        var a = "/a.B/Xm1"u8.ToArray();
        var b = "/a.B/Ym1"u8.ToArray();
        for (var i = 0; i < 4; i++)
        {
            Assert.Equal("/a.B/Xm1", seen.Get(a));
            Assert.Equal("/a.B/Ym1", seen.Get(b));
        }
    }
}
