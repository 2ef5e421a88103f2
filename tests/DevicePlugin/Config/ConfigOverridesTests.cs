using MetaGpu.DevicePlugin.Config;

namespace MetaGpu.Tests.DevicePlugin.Config;

/// <summary>Flags over environment over file, each validated like the file and named in its errors.</summary>
public sealed class ConfigOverridesTests
{
    private static ConfigOverrides Env(params (string Name, string Value)[] vars)
    {
        var map = vars.ToDictionary(v => v.Name, v => v.Value);
        return SharingConfigLoader.FromEnvironment(name => map.GetValueOrDefault(name));
    }

    private static SharingConfig Layer(SharingConfig file, ConfigOverrides env, ConfigOverrides flags) =>
        SharingConfigLoader.Apply(SharingConfigLoader.Apply(file, env, SharingConfigLoader.EnvironmentSource), flags, SharingConfigLoader.FlagsSource);

    private static readonly ConfigOverrides NoFlags = ConfigOverrides.None;

    [Fact]
    public void FromEnvironmentReadsEveryVariable()
    {
        var o = Env(("METAGPU_POLICY", "spread"), ("METAGPU_SPANNING", "reject"), ("METAGPU_DEVICE_LIST_STRATEGY", "cdi-cri"),
            ("METAGPU_RESOURCE_NAME", "example.com/gpu"), ("METAGPU_META_GPUS", " 50 "), ("METAGPU_IGNORE_XIDS", "48, 79"),
            ("METAGPU_UNIGNORE_XIDS", "13"));

        Assert.Equal(new ConfigOverrides("spread", "reject", "cdi-cri", "example.com/gpu", 50, "48, 79", "13"), o);
    }

    [Fact]
    public void EmptyVariablesAreNotSet() =>
        Assert.True(Env(("METAGPU_POLICY", ""), ("METAGPU_META_GPUS", "  ")).IsEmpty);

    [Fact]
    public void ANonNumericMetaGpusVariableNamesIt()
    {
        var e = Assert.Throws<ConfigException>(() => Env(("METAGPU_META_GPUS", "lots")));

        Assert.Equal("METAGPU_META_GPUS: must be an integer 1..1000 (got 'lots')", e.Message);
    }

    [Fact]
    public void FlagsBeatEnvironmentBeatFile()
    {
        var file = TempConfig.Load("resources:\n  - name: file.io/gpu\n    metaGpus: 10\nallocation:\n  policy: packed\n  spanning: allow\ndeviceListStrategy: envvar\n");
        var env = Env(("METAGPU_POLICY", "spread"), ("METAGPU_SPANNING", "reject"), ("METAGPU_META_GPUS", "20"), ("METAGPU_RESOURCE_NAME", "env.io/gpu"));
        var flags = new ConfigOverrides("packed", null, "cdi-annotations", null, 30, null, null);

        var c = Layer(file, env, flags);

        Assert.Equal(AllocationPolicyKind.Packed, c.Policy); // flag over env
        Assert.Equal(SpanningMode.Reject, c.Spanning); // env over file
        Assert.Equal(DeviceListStrategy.CdiAnnotations, c.DeviceListStrategy); // flag over file
        var r = Assert.Single(c.Resources);
        Assert.Equal("env.io/gpu", r.ResourceName);
        Assert.Equal(30, r.MetaGpus);
        Assert.Equal(["*"], r.Gpus);
        Assert.Equal(2, r.Line); // still where the file defines it
        Assert.EndsWith("config.yaml + environment + flags", c.Source, StringComparison.Ordinal);
    }

    [Fact]
    public void NoOverridesChangeNothing()
    {
        var file = SharingConfig.Default;

        Assert.Same(file, Layer(file, Env(), NoFlags));
    }

    [Fact]
    public void OverridesApplyToTheDefaults()
    {
        var c = Layer(SharingConfigLoader.Load(null), Env(("METAGPU_META_GPUS", "10")), new ConfigOverrides(null, null, null, "example.com/gpu", null, null, null));

        Assert.Equal(new ResourceSharing("example.com/gpu", 10, c.Resources[0].Gpus, 0), Assert.Single(c.Resources));
        Assert.Equal("defaults + environment + flags", c.Source);
    }

    [Theory]
    [InlineData("flags", "--policy: 'tight' is not one of packed, spread")]
    [InlineData("environment", "METAGPU_POLICY: 'tight' is not one of packed, spread")]
    public void BadChoicesNameTheFlagOrVariable(string source, string expected)
    {
        var e = Assert.Throws<ConfigException>(() =>
            SharingConfigLoader.Apply(SharingConfig.Default, new ConfigOverrides("tight", null, null, null, null, null, null), source));

        Assert.Equal(expected, e.Message);
    }

    [Theory]
    [InlineData(null, "maybe", null, null, null, null, null, "--spanning: 'maybe' is not one of allow, reject")]
    [InlineData(null, null, "volume-mounts", null, null, null, null, "--device-list-strategy: 'volume-mounts' is not one of envvar, cdi-cri, cdi-annotations")]
    [InlineData(null, null, null, "metagpu", null, null, null, "--resource-name: 'metagpu' is not a valid extended resource name: it must contain exactly one '/', between a domain and a name, e.g. example.com/gpu")]
    [InlineData(null, null, null, null, 0, null, null, "--meta-gpus: must be 1..1000 (got 0)")]
    [InlineData(null, null, null, null, 1001, null, null, "--meta-gpus: must be 1..1000 (got 1001)")]
    [InlineData(null, null, null, null, null, "48,x", null, "--ignore-xids: 'x' is not an XID (a non-negative integer)")]
    [InlineData(null, null, null, null, null, "48,,79", null, "--ignore-xids: '' is not an XID (a non-negative integer)")]
    [InlineData(null, null, null, null, null, null, "-13", "--unignore-xids: '-13' is not an XID (a non-negative integer)")]
    [InlineData(null, null, null, null, null, "48", "13,48", "--unignore-xids: '48' is also in --ignore-xids; an XID is either added to the ignored set or removed from it")]
    public void FlagErrorsNameTheFlag(string? policy, string? spanning, string? strategy, string? name, int? metaGpus, string? ignore, string? unignore, string expected)
    {
        var e = Assert.Throws<ConfigException>(() => SharingConfigLoader.Apply(SharingConfig.Default,
            new ConfigOverrides(policy, spanning, strategy, name, metaGpus, ignore, unignore), SharingConfigLoader.FlagsSource));

        Assert.Equal(expected, e.Message);
    }

    [Fact]
    public void EnvironmentErrorsNameTheVariable()
    {
        var e = Assert.Throws<ConfigException>(() => Layer(SharingConfig.Default, Env(("METAGPU_META_GPUS", "0")), NoFlags));
        Assert.Equal("METAGPU_META_GPUS: must be 1..1000 (got 0)", e.Message);

        e = Assert.Throws<ConfigException>(() => Layer(SharingConfig.Default, Env(("METAGPU_RESOURCE_NAME", "kubernetes.io/gpu")), NoFlags));
        Assert.StartsWith("METAGPU_RESOURCE_NAME: 'kubernetes.io/gpu' is not a valid extended resource name", e.Message, StringComparison.Ordinal);

        e = Assert.Throws<ConfigException>(() => Layer(SharingConfig.Default, Env(("METAGPU_IGNORE_XIDS", "abc")), NoFlags));
        Assert.Equal("METAGPU_IGNORE_XIDS: 'abc' is not an XID (a non-negative integer)", e.Message);
    }

    [Fact]
    public void NameAndSizeNeedExactlyOneResource()
    {
        var file = TempConfig.Load("resources:\n  - {name: a.io/x, gpus: [0]}\n  - {name: b.io/y, gpus: [1]}\n");

        var e = Assert.Throws<ConfigException>(() => Layer(file, Env(("METAGPU_META_GPUS", "10")), NoFlags));
        Assert.Matches(@"^METAGPU_META_GPUS: applies only when the config has exactly one resource \(.*config\.yaml has 2\); set it per resource in the file$", e.Message);

        e = Assert.Throws<ConfigException>(() => Layer(file, Env(), new ConfigOverrides(null, null, null, "c.io/z", 10, null, null)));
        Assert.StartsWith("--resource-name: applies only when the config has exactly one resource", e.Message, StringComparison.Ordinal);

        // The other overrides still apply to a config with several resources.
        Assert.Equal(AllocationPolicyKind.Spread, Layer(file, Env(("METAGPU_POLICY", "spread")), NoFlags).Policy);
    }

    [Fact]
    public void XidListsReplaceTheOnesBelowAndTheHigherSourceWins()
    {
        var file = TempConfig.Load("health:\n  ignoreXids: [48, 63]\n  unignoreXids: [13, 31]\n  recoveryQuietPeriod: 5m\n");

        // The environment's ignore list replaces the file's, and takes 31 out of the file's unignore list.
        var c = Layer(file, Env(("METAGPU_IGNORE_XIDS", "79,31")), NoFlags);
        Assert.Equal([79UL, 31UL], c.Health.IgnoreXids);
        Assert.Equal([13UL], c.Health.UnignoreXids);
        Assert.Equal(TimeSpan.FromMinutes(5), c.Health.RecoveryQuietPeriod);

        // A flag unignoring 79 then wins over the environment ignoring it.
        c = Layer(file, Env(("METAGPU_IGNORE_XIDS", "79,31")), new ConfigOverrides(null, null, null, null, null, null, "79"));
        Assert.Equal([31UL], c.Health.IgnoreXids);
        Assert.Equal([79UL], c.Health.UnignoreXids);

        // An empty flag clears the list.
        c = Layer(file, Env(), new ConfigOverrides(null, null, null, null, null, "", null));
        Assert.Empty(c.Health.IgnoreXids);
        Assert.Equal([13UL, 31UL], c.Health.UnignoreXids);
    }

    [Fact]
    public void OtherSourceNamesGetGenericLabels()
    {
        var e = Assert.Throws<ConfigException>(() =>
            SharingConfigLoader.Apply(SharingConfig.Default, new ConfigOverrides(null, null, null, null, 0, null, null), "helm values"));

        Assert.Equal("helm values metaGpus: must be 1..1000 (got 0)", e.Message);
    }
}
