using MetaGpu.DevicePlugin.Config;

namespace MetaGpu.Tests.DevicePlugin.Config;

/// <summary>The kubelet's rule for extended resource names.</summary>
public sealed class ResourceNamesTests
{
    [Theory]
    [InlineData("cnvrg.io/metagpu")]
    [InlineData("example.com/small-gpu")]
    [InlineData("nvidia.com/gpu")]
    [InlineData("a/b")]
    [InlineData("my-org.example.com/GPU_share.v2")]
    [InlineData("0.example/9")]
    public void ValidNames(string name)
    {
        Assert.True(ResourceNames.IsValid(name, out var why), why);
        Assert.Null(why);
    }

    [Theory]
    [InlineData("")]
    [InlineData("metagpu")]
    [InlineData("a/b/c")]
    [InlineData("Example.com/gpu")]
    [InlineData("example_com/gpu")]
    [InlineData("example.com-/gpu")]
    [InlineData(".example.com/gpu")]
    [InlineData("kubernetes.io/gpu")]
    [InlineData("node.kubernetes.io/gpu")]
    [InlineData("notkubernetes.io/gpu")] // the kubelet's test is a substring test
    [InlineData("requests.example.com/gpu")]
    [InlineData("example.com/.gpu")]
    [InlineData("example.com/gpu/")]
    [InlineData("example.com/gp\u00fc")]
    public void InvalidNames(string name)
    {
        Assert.False(ResourceNames.IsValid(name, out var why));
        Assert.False(string.IsNullOrEmpty(why));
    }

    [Fact]
    public void LengthLimits()
    {
        Assert.True(ResourceNames.IsValid("example.com/" + new string('a', 63), out _));
        Assert.False(ResourceNames.IsValid("example.com/" + new string('a', 64), out _));
        Assert.True(ResourceNames.IsValid(new string('a', 63) + ".com/gpu", out _));
        Assert.False(ResourceNames.IsValid(new string('a', 64) + ".com/gpu", out _));

        // 244 characters of domain: 253 with the "requests." Kubernetes puts in front for quotas.
        var domain244 = $"{new string('a', 60)}.{new string('b', 60)}.{new string('c', 60)}.{new string('d', 57)}.com";
        Assert.Equal(244, domain244.Length);
        Assert.True(ResourceNames.IsValid(domain244 + "/gpu", out _));
        Assert.False(ResourceNames.IsValid("a" + domain244 + "/gpu", out var why));
        Assert.Equal("the domain is longer than 244 characters", why);
    }
}
