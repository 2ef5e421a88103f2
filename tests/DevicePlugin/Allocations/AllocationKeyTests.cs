using MetaGpu.DevicePlugin.Allocations;

namespace MetaGpu.Tests.DevicePlugin.Allocations;

public sealed class AllocationKeyTests
{
    [Fact]
    public void IsTheFirstTwentyBytesOfSha256OverTheResourceAndTheSortedIds()
    {
        // Expected values from sha256sum (see AllocationSamples.Key), not from the code under test.
        Assert.Equal("46ab1f59b3f179937f81072af30ab0629e5b6aee",
            AllocationKey.For("cnvrg.io/metagpu", ["cnvrg-meta-0-10-GPU-a", "cnvrg-meta-0-0-GPU-a", "cnvrg-meta-0-1-GPU-a"]));
        Assert.Equal(AllocationSamples.Key, AllocationKey.For(AllocationSamples.Resource, AllocationSamples.Ids));
        Assert.Equal("65298674fd29b84bca6dd823be03190ef716756f", AllocationKey.For("cnvrg.io/metagpu", []));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(30)]
    [InlineData(800)] // more than the 4 KiB the text is encoded into on the stack
    public void IsSha256OfTheJoinedTextForShortAndLongLists(int count)
    {
        var ids = Enumerable.Range(0, count).Select(i => $"cnvrg-meta-{i % 8}-{i / 8}-GPU-ä{i:x4}").ToArray();
        var text = "cnvrg.io/metagpu\n" + string.Join("\n", ids.Order(StringComparer.Ordinal));
        var expected = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(text)))[..AllocationKey.Length];
        Assert.Equal(expected, AllocationKey.For("cnvrg.io/metagpu", ids));
    }

    [Fact]
    public void DependsOnTheSetAndTheResourceNotTheOrder()
    {
        string[] ids = ["cnvrg-meta-0-3-GPU-x", "cnvrg-meta-0-1-GPU-x", "cnvrg-meta-1-0-GPU-y"];
        var key = AllocationKey.For("cnvrg.io/metagpu", ids);
        Assert.Equal(key, AllocationKey.For("cnvrg.io/metagpu", ids.Reverse()));
        Assert.Equal(key, AllocationKey.For("cnvrg.io/metagpu", [ids[2], ids[0], ids[1]]));
        Assert.NotEqual(key, AllocationKey.For("cnvrg.io/metagpu-small", ids));
        Assert.NotEqual(key, AllocationKey.For("cnvrg.io/metagpu", ids[..2]));
    }

    [Fact]
    public void IsFortyLowercaseHexDigits()
    {
        var key = AllocationKey.For("example.com/gpu", ["cnvrg-meta-0-0-GPU-0"]);
        Assert.Matches("^[0-9a-f]{40}$", key);
        Assert.True(AllocationKey.IsValid(key));
    }

    [Theory]
    [InlineData("")]
    [InlineData("46ab1f59b3f179937f81072af30ab0629e5b6ae")]
    [InlineData("46ab1f59b3f179937f81072af30ab0629e5b6aee0")]
    [InlineData("46AB1F59B3F179937F81072AF30AB0629E5B6AEE")]
    [InlineData("46ab1f59b3f179937f81072af30ab0629e5b6aeg")]
    [InlineData("../../../../etc/passwd.................")]
    [InlineData("46ab1f59b3f179937f81072af30ab0629e5b6ae ")]
    public void IsValidRefusesAnythingElse(string key) => Assert.False(AllocationKey.IsValid(key));
}
