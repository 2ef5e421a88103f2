using MetaGpu.DevicePlugin.Config;
using MetaGpu.Nvml;

namespace MetaGpu.Tests.DevicePlugin.Config;

/// <summary>Valid files in the current form, the defaults, and loading from disk.</summary>
public sealed class SharingConfigFileTests
{
    private const string FullExample = """
        version: v1
        resources:
          - name: cnvrg.io/metagpu
            metaGpus: 100
            gpus: ["*"]
          - name: example.com/small-gpu
            metaGpus: 10
            gpus: ["GPU-8e5b1f2a-3c4d-5e6f-7a8b-9c0d1e2f3a4b", 3, "MIG-1a2b3c4d-0000-1111-2222-333344445555"]
        allocation:
          policy: spread
          spanning: reject
        deviceListStrategy: cdi-annotations
        health:
          ignoreXids: [48, 79]
          unignoreXids: [13]
          recoveryQuietPeriod: 90s
        """;

    [Fact]
    public void EveryKeyIsRead()
    {
        var c = TempConfig.Load(FullExample);

        Assert.Equal(2, c.Resources.Count);
        var first = c.Resources[0];
        Assert.Equal("cnvrg.io/metagpu", first.ResourceName);
        Assert.Equal(100, first.MetaGpus);
        Assert.Equal(["*"], first.Gpus);
        Assert.Equal(3, first.Line);
        var second = c.Resources[1];
        Assert.Equal("example.com/small-gpu", second.ResourceName);
        Assert.Equal(10, second.MetaGpus);
        Assert.Equal(["GPU-8e5b1f2a-3c4d-5e6f-7a8b-9c0d1e2f3a4b", "3", "MIG-1a2b3c4d-0000-1111-2222-333344445555"], second.Gpus);
        Assert.Equal(6, second.Line);

        Assert.Equal(AllocationPolicyKind.Spread, c.Policy);
        Assert.Equal(SpanningMode.Reject, c.Spanning);
        Assert.Equal(DeviceListStrategy.CdiAnnotations, c.DeviceListStrategy);
        Assert.Equal([48UL, 79UL], c.Health.IgnoreXids);
        Assert.Equal([13UL], c.Health.UnignoreXids);
        Assert.Equal(TimeSpan.FromSeconds(90), c.Health.RecoveryQuietPeriod);
        Assert.Empty(c.Warnings);
        Assert.EndsWith("config.yaml", c.Source, StringComparison.Ordinal);
    }

    [Fact]
    public void NoFileMeansTheOriginalsBehaviour()
    {
        var c = SharingConfigLoader.Load(null);

        Assert.Same(SharingConfig.Default, c);
        var r = Assert.Single(c.Resources);
        Assert.Equal(new ResourceSharing("cnvrg.io/metagpu", 100, r.Gpus, 0), r);
        Assert.Equal(["*"], r.Gpus);
        Assert.Equal(AllocationPolicyKind.Packed, c.Policy);
        Assert.Equal(SpanningMode.Allow, c.Spanning);
        Assert.Equal(DeviceListStrategy.EnvVar, c.DeviceListStrategy);
        Assert.Empty(c.Health.IgnoreXids);
        Assert.Empty(c.Health.UnignoreXids);
        Assert.Equal(TimeSpan.FromMinutes(2), c.Health.RecoveryQuietPeriod);
        Assert.Equal("defaults", c.Source);
        Assert.Empty(c.Warnings);
    }

    [Theory]
    [InlineData("")]
    [InlineData("# nothing configured yet\n")]
    [InlineData("---\n")]
    [InlineData("~\n")]
    public void AnEmptyFileMeansTheDefaultsWithAWarning(string yaml)
    {
        var c = SharingConfigLoader.Parse(yaml, "config.yaml");

        Assert.Equal(SharingConfig.Default.Resources, c.Resources);
        Assert.Equal(AllocationPolicyKind.Packed, c.Policy);
        Assert.Equal("config.yaml", c.Source);
        Assert.Equal("config.yaml: the file is empty; using the defaults (every GPU as 100 cnvrg.io/metagpu)", Assert.Single(c.Warnings));
    }

    [Fact]
    public void OmittedKeysTakeTheirDefaults()
    {
        var c = SharingConfigLoader.Parse("resources:\n  - name: example.com/gpu\n", "config.yaml");

        var r = Assert.Single(c.Resources);
        Assert.Equal(new ResourceSharing("example.com/gpu", 100, r.Gpus, 2), r);
        Assert.Equal(["*"], r.Gpus);
        Assert.Equal(AllocationPolicyKind.Packed, c.Policy);
        Assert.Equal(SpanningMode.Allow, c.Spanning);
        Assert.Equal(DeviceListStrategy.EnvVar, c.DeviceListStrategy);
        Assert.Equal(HealthSettings.Default, c.Health);
    }

    [Fact]
    public void OnlySettingsWithoutResourcesKeepTheDefaultResource()
    {
        var c = SharingConfigLoader.Parse("allocation:\n  policy: spread\ndeviceListStrategy: cdi-cri\nhealth:\n", "config.yaml");

        Assert.Equal(SharingConfig.Default.Resources, c.Resources);
        Assert.Equal(AllocationPolicyKind.Spread, c.Policy);
        Assert.Equal(DeviceListStrategy.CdiCri, c.DeviceListStrategy);
        Assert.Equal(HealthSettings.Default, c.Health);
    }

    [Theory]
    [InlineData("packed", AllocationPolicyKind.Packed)]
    [InlineData("spread", AllocationPolicyKind.Spread)]
    public void Policies(string yaml, AllocationPolicyKind expected) =>
        Assert.Equal(expected, SharingConfigLoader.Parse($"allocation:\n  policy: {yaml}\n", "c").Policy);

    [Theory]
    [InlineData("allow", SpanningMode.Allow)]
    [InlineData("reject", SpanningMode.Reject)]
    public void SpanningModes(string yaml, SpanningMode expected) =>
        Assert.Equal(expected, SharingConfigLoader.Parse($"allocation:\n  spanning: {yaml}\n", "c").Spanning);

    [Theory]
    [InlineData("envvar", DeviceListStrategy.EnvVar)]
    [InlineData("cdi-cri", DeviceListStrategy.CdiCri)]
    [InlineData("\"cdi-annotations\"", DeviceListStrategy.CdiAnnotations)]
    public void Strategies(string yaml, DeviceListStrategy expected) =>
        Assert.Equal(expected, SharingConfigLoader.Parse($"deviceListStrategy: {yaml}\n", "c").DeviceListStrategy);

    [Fact]
    public void IndexesAreNormalizedAndNumbersMayBeQuoted()
    {
        var c = SharingConfigLoader.Parse("resources:\n  - name: a.io/x\n    metaGpus: \"25\"\n    gpus: [\"03\", 1, '2']\n", "c");

        Assert.Equal(25, c.Resources[0].MetaGpus);
        Assert.Equal(["3", "1", "2"], c.Resources[0].Gpus);
    }

    [Fact]
    public void BlockListsAndCommentsWork()
    {
        const string yaml = """
            # shared A100s
            resources:
              - name: example.com/a100   # the big ones
                metaGpus: 1000
                gpus:
                  - 0
                  - 1
              - name: example.com/rest
                metaGpus: 1
            health:
              ignoreXids:
                - 48
                - 48
            """;
        var c = SharingConfigLoader.Parse(yaml, "c");

        Assert.Equal(["0", "1"], c.Resources[0].Gpus);
        Assert.Equal(1000, c.Resources[0].MetaGpus);
        Assert.Equal(["*"], c.Resources[1].Gpus);
        Assert.Equal(1, c.Resources[1].MetaGpus);
        Assert.Equal([48UL], c.Health.IgnoreXids);
    }

    [Theory]
    [InlineData("90s", 90_000)]
    [InlineData("2m", 120_000)]
    [InlineData("1h", 3_600_000)]
    [InlineData("500ms", 500)]
    [InlineData("1m30s", 90_000)]
    [InlineData("0", 0)]
    public void QuietPeriods(string yaml, int milliseconds) =>
        Assert.Equal(TimeSpan.FromMilliseconds(milliseconds),
            SharingConfigLoader.Parse($"health:\n  recoveryQuietPeriod: {yaml}\n", "c").Health.RecoveryQuietPeriod);

    [Fact]
    public void HealthSettingsApplyToTheDefaultIgnoredSet()
    {
        var c = SharingConfigLoader.Parse("health:\n  ignoreXids: [48]\n  unignoreXids: [13]\n  recoveryQuietPeriod: 30s\n", "c");

        var options = c.Health.ApplyTo(new GpuHealthOptions());

        Assert.Equal(new HashSet<ulong> { 31, 43, 45, 68, 109, 48 }, options.IgnoredXids.ToHashSet());
        Assert.Equal(TimeSpan.FromSeconds(30), options.RecoveryQuietPeriod);
    }

    [Fact]
    public void AMissingFileIsAnErrorNamingIt()
    {
        using var dir = new TempConfig();
        var path = Path.Combine(dir.Dir, "nope.yaml");

        var e = Assert.Throws<ConfigException>(() => SharingConfigLoader.Load(path));

        Assert.Equal($"{path}: the config file does not exist", e.Message);
        Assert.Null(e.Line);
    }

    [Fact]
    public void ADirectoryIsAnErrorNamingIt()
    {
        using var dir = new TempConfig();

        var e = Assert.Throws<ConfigException>(() => SharingConfigLoader.Load(dir.Dir));

        Assert.StartsWith($"{dir.Dir}: is a directory", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TheDocumentedExampleIsValid()
    {
        // docs/configuration.md's full example must keep loading: pull it out of the page and load it.
        var doc = File.ReadAllText(Path.Combine(RepoRoot(), "docs", "configuration.md"));
        const string start = "<!-- full-example -->\n```yaml\n";
        var from = doc.IndexOf(start, StringComparison.Ordinal);
        Assert.True(from >= 0, "docs/configuration.md has no marked full example");
        from += start.Length;
        var yaml = doc[from..doc.IndexOf("```", from, StringComparison.Ordinal)];

        var c = TempConfig.Load(yaml);

        Assert.Equal(2, c.Resources.Count);
        Assert.Empty(c.Warnings);
    }

    private static string RepoRoot()
    {
        var dir = AppContext.BaseDirectory;
        while (!File.Exists(Path.Combine(dir, "MetaGpu.csproj")))
            dir = Path.GetDirectoryName(dir) ?? throw new InvalidOperationException("MetaGpu.csproj not found above the test binaries");
        return dir;
    }
}
