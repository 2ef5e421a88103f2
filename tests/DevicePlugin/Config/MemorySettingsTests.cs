using MetaGpu.DevicePlugin.Config;

namespace MetaGpu.Tests.DevicePlugin.Config;

/// <summary>The <c>memory</c> section (enforcement mode, grace period): file, environment and flags, and their errors.</summary>
public sealed class MemorySettingsTests
{
    private static SharingConfig Layer(SharingConfig file, ConfigOverrides env, ConfigOverrides flags) =>
        SharingConfigLoader.Apply(SharingConfigLoader.Apply(file, env, SharingConfigLoader.EnvironmentSource), flags, SharingConfigLoader.FlagsSource);

    private static ConfigOverrides Env(params (string Name, string Value)[] vars)
    {
        var map = vars.ToDictionary(v => v.Name, v => v.Value);
        return SharingConfigLoader.FromEnvironment(name => map.GetValueOrDefault(name));
    }

    private static ConfigOverrides Flags(string? enforcement, string? grace) =>
        ConfigOverrides.None with { Enforcement = enforcement, GracePeriod = grace };

    [Fact]
    public void TheDefaultReportsWithoutGrace()
    {
        Assert.Equal(new MemorySettings(EnforcementMode.Report, TimeSpan.Zero), SharingConfig.Default.Memory);
        Assert.Equal(MemorySettings.Default, TempConfig.Load("version: v1\n").Memory);
    }

    [Theory]
    [InlineData("off", EnforcementMode.Off)]
    [InlineData("report", EnforcementMode.Report)]
    [InlineData("kill", EnforcementMode.Kill)]
    public void TheFileSetsTheMode(string yaml, EnforcementMode mode) =>
        Assert.Equal(mode, TempConfig.Load($"memory:\n  enforcement: {yaml}\n  gracePeriod: 45s\n").Memory.Enforcement);

    [Fact]
    public void TheFileSetsTheGracePeriod() =>
        Assert.Equal(TimeSpan.FromSeconds(90), TempConfig.Load("memory:\n  gracePeriod: 1m30s\n").Memory.GracePeriod);

    [Fact]
    public void AnUnknownModeInTheFileNamesTheLineAndTheChoices()
    {
        var e = Assert.Throws<ConfigException>(() => SharingConfigLoader.Parse("memory:\n  enforcement: evict\n", "c.yaml"));
        Assert.Contains("line 2", e.Message);
        Assert.Contains("'evict' is not one of off, report, kill", e.Message);
    }

    [Fact]
    public void AnUnknownKeyInTheSectionIsAnError()
    {
        var e = Assert.Throws<ConfigException>(() => SharingConfigLoader.Parse("memory:\n  enforce: kill\n", "c.yaml"));
        Assert.Contains("enforce", e.Message);
        Assert.Contains("gracePeriod", e.Message);
    }

    [Fact]
    public void ABadGracePeriodIsAnError()
    {
        var e = Assert.Throws<ConfigException>(() => SharingConfigLoader.Parse("memory:\n  gracePeriod: soon\n", "c.yaml"));
        Assert.Contains("'soon' is not a duration", e.Message);
    }

    [Fact]
    public void FlagsBeatEnvironmentBeatFile()
    {
        var file = TempConfig.Load("memory:\n  enforcement: off\n  gracePeriod: 10s\n");
        var env = Env(("METAGPU_ENFORCEMENT", "report"), ("METAGPU_GRACE_PERIOD", "20s"));

        Assert.Equal(new MemorySettings(EnforcementMode.Report, TimeSpan.FromSeconds(20)), Layer(file, env, ConfigOverrides.None).Memory);
        Assert.Equal(new MemorySettings(EnforcementMode.Kill, TimeSpan.FromSeconds(20)), Layer(file, env, Flags("kill", null)).Memory);
        Assert.Equal(new MemorySettings(EnforcementMode.Off, TimeSpan.FromSeconds(5)), Layer(file, ConfigOverrides.None, Flags(null, "5s")).Memory);
    }

    [Fact]
    public void ErrorsNameTheVariableOrTheFlag()
    {
        var env = Assert.Throws<ConfigException>(() => Layer(SharingConfig.Default, Env(("METAGPU_ENFORCEMENT", "tight")), ConfigOverrides.None));
        Assert.StartsWith("METAGPU_ENFORCEMENT:", env.Message);
        var flag = Assert.Throws<ConfigException>(() => Layer(SharingConfig.Default, ConfigOverrides.None, Flags(null, "-5s")));
        Assert.StartsWith("--grace-period:", flag.Message);
    }
}
