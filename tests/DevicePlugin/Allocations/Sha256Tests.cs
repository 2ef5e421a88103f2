using System.Text;
using MetaGpu.DevicePlugin.Allocations;

namespace MetaGpu.Tests.DevicePlugin.Allocations;

/// <summary>Our SHA-256 (the allocation keys' hash) against FIPS 180-4's vectors and .NET's own at every length around the block edges.</summary>
public sealed class Sha256Tests
{
    private static string Hex(ReadOnlySpan<byte> data)
    {
        Span<byte> hash = stackalloc byte[Sha256.HashSizeInBytes];
        Sha256.HashData(data, hash);
        return Convert.ToHexStringLower(hash);
    }

    [Theory]
    [InlineData("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")]
    [InlineData("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")]
    [InlineData("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")]
    public void MatchesTheStandardsVectors(string message, string expected) =>
        Assert.Equal(expected, Hex(Encoding.ASCII.GetBytes(message)));

    [Fact]
    public void MatchesTheStandardsMillionAs() =>
        Assert.Equal("cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0", Hex(Enumerable.Repeat((byte)'a', 1_000_000).ToArray()));

    [Fact]
    public void MatchesDotNetsAtEveryLengthUpToThreeBlocksAndBeyond()
    {
        var random = new Random(20261201);
        foreach (var length in Enumerable.Range(0, 200).Concat([511, 512, 513, 4095, 4096, 65_537]))
        {
            var data = new byte[length];
            random.NextBytes(data);
            Assert.Equal(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(data)), Hex(data));
        }
    }
}
