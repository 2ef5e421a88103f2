using System.Reflection;

namespace MetaGpu.Tests;

public class ProgramTests
{
    [Fact]
    public void VersionIsReported()
    {
        Assert.Matches(@"^\d+\.\d+\.\d+", Program.Version);
    }

    /// <summary>The version constant (Native/BuildInfo.targets) is the version the assembly was built with.</summary>
    [Fact]
    public void TheVersionConstantIsTheBuildsVersion()
    {
        var built = typeof(Program).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()!.InformationalVersion.Split('+')[0];
        Assert.Equal(built, Program.Version);
        Assert.Equal(built, MetaGpu.Control.Cli.MgctlApp.ClientVersion);
    }
}
