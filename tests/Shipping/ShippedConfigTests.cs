using System.Text.RegularExpressions;
using MetaGpu.DevicePlugin.Config;

namespace MetaGpu.Tests.Shipping;

/// <summary>The ConfigMap's config.yaml: valid for MetaGPU's own loader, and exactly the defaults, commented or not.</summary>
public sealed partial class ShippedConfigTests
{
    private readonly string _yaml = ShippingFiles.LoadManifest().ConfigYaml;

    [Fact]
    public void AsShippedItIsTheDefaultsWithoutAWarning()
    {
        var config = SharingConfigLoader.Parse(_yaml, "static.yaml ConfigMap config.yaml");
        AssertDefaults(config);
        // Not an empty file (which would log a warning at every start): it says `version: v1`, the rest is comments.
        Assert.Empty(config.Warnings);
    }

    [Fact]
    public void WithEveryCommentedKeyUncommentedItIsStillTheDefaults()
    {
        var uncommented = CommentedKey().Replace(_yaml, "$1");
        Assert.NotEqual(_yaml, uncommented);
        foreach (var key in new[] { "resources:", "allocation:", "policy:", "spanning:", "deviceListStrategy:", "health:", "ignoreXids:", "unignoreXids:", "recoveryQuietPeriod:", "metaGpus:", "gpus:" })
            Assert.Matches($@"(?m)^\s*(- )?{key}", uncommented);

        var config = SharingConfigLoader.Parse(uncommented, "static.yaml ConfigMap config.yaml, uncommented");
        AssertDefaults(config);
        Assert.Empty(config.Warnings);
    }

    private static void AssertDefaults(SharingConfig config)
    {
        var defaults = SharingConfig.Default;
        var resource = Assert.Single(config.Resources);
        var expected = Assert.Single(defaults.Resources);
        Assert.Equal(expected.ResourceName, resource.ResourceName);
        Assert.Equal(expected.MetaGpus, resource.MetaGpus);
        Assert.Equal(expected.Gpus, resource.Gpus);
        Assert.Equal(defaults.Policy, config.Policy);
        Assert.Equal(defaults.Spanning, config.Spanning);
        Assert.Equal(defaults.DeviceListStrategy, config.DeviceListStrategy);
        Assert.Equal(defaults.Health.IgnoreXids, config.Health.IgnoreXids);
        Assert.Equal(defaults.Health.UnignoreXids, config.Health.UnignoreXids);
        Assert.Equal(defaults.Health.RecoveryQuietPeriod, config.Health.RecoveryQuietPeriod);
    }

    /// <summary>A commented-out setting (<c># key: value</c>, <c>#   - name: …</c>), not a prose comment.</summary>
    [GeneratedRegex(@"(?m)^# ?(\s*(- )?[A-Za-z]+:.*)$")]
    private static partial Regex CommentedKey();
}
