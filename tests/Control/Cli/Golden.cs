using MetaGpu.Tests.DevicePlugin;

namespace MetaGpu.Tests.Control.Cli;

/// <summary>
/// Golden files in tests/Control/Cli/golden/: what mgctl prints, compared byte for byte. With METAGPU_UPDATE_GOLDEN=1
/// the test writes what it got instead (then review the diff and commit it); never otherwise.
/// </summary>
public static class Golden
{
    public const string UpdateVariable = "METAGPU_UPDATE_GOLDEN";

    public static string Directory => Path.Combine(PublishedBinary.RepositoryRoot, "tests", "Control", "Cli", "golden");

    public static void AssertMatches(string name, string actual)
    {
        var path = Path.Combine(Directory, name + ".txt");
        if (Environment.GetEnvironmentVariable(UpdateVariable) == "1")
        {
            File.WriteAllText(path, actual);
            return;
        }
        Assert.True(File.Exists(path), $"no golden file {name}.txt: run the test with {UpdateVariable}=1 to write it, then review it");
        var expected = File.ReadAllText(path);
        if (expected != actual)
            Assert.Fail($"mgctl's output differs from golden/{name}.txt (run with {UpdateVariable}=1 to accept it after review):\n--- expected:\n{expected}\n--- actual:\n{actual}");
    }
}
