namespace MetaGpu.Tests;

public class ProgramTests
{
    [Fact]
    public void VersionIsReported()
    {
        Assert.Matches(@"^\d+\.\d+\.\d+", Program.Version);
    }
}
