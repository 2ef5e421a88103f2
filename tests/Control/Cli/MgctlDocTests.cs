using System.Text.Json;
using MetaGpu.Tests.DevicePlugin;

namespace MetaGpu.Tests.Control.Cli;

/// <summary>docs/mgctl.md shows what mgctl prints (the golden files, verbatim) and documents every JSON key it writes.</summary>
public sealed class MgctlDocTests
{
    private static readonly string Doc = File.ReadAllText(Path.Combine(PublishedBinary.RepositoryRoot, "docs", "mgctl.md"));

    [Theory]
    [InlineData("processes-allocation-table")]
    [InlineData("processes-node-table")]
    [InlineData("processes-allocation-wide")]
    [InlineData("devices-allocation-table")]
    [InlineData("devices-allocation-wide")]
    [InlineData("devices-node-table")]
    [InlineData("info-allocation-table")]
    [InlineData("info-node-table")]
    [InlineData("processes-allocation-json")]
    public void SamplesAreTheGoldenFiles(string golden)
    {
        var text = File.ReadAllText(Path.Combine(Golden.Directory, golden + ".txt"));
        Assert.True(Doc.Contains("```\n" + text + "```", StringComparison.Ordinal) || Doc.Contains("```json\n" + text + "```", StringComparison.Ordinal),
            $"docs/mgctl.md does not show golden/{golden}.txt as it is: copy it in again");
    }

    [Fact]
    public void EveryJsonKeyIsDocumented()
    {
        var keys = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var file in Directory.EnumerateFiles(Golden.Directory, "*-json.txt"))
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(file));
            Collect(doc.RootElement, keys);
        }
        Assert.Contains("others_processes", keys);
        var missing = keys.Where(k => !Doc.Contains($"`{k}`", StringComparison.Ordinal)).ToList();
        Assert.True(missing.Count == 0, "not in docs/mgctl.md: " + string.Join(", ", missing));
    }

    private static void Collect(JsonElement e, SortedSet<string> keys)
    {
        if (e.ValueKind == JsonValueKind.Object)
        {
            foreach (var p in e.EnumerateObject())
            {
                keys.Add(p.Name);
                Collect(p.Value, keys);
            }
        }
        else if (e.ValueKind == JsonValueKind.Array)
        {
            foreach (var item in e.EnumerateArray())
                Collect(item, keys);
        }
    }
}
