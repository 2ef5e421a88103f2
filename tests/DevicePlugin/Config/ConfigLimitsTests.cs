using System.Text;
using MetaGpu.DevicePlugin.Config;

namespace MetaGpu.Tests.DevicePlugin.Config;

/// <summary>
/// The bounds in front of YamlDotNet's representation model (<see cref="ConfigLimits"/>): each input here overflowed
/// the stack, looped or blew up in hashing before, so a regression shows as a crashed test host, not a failed assert.
/// The published binary is checked on the same inputs by <see cref="BadConfigFileProcessTests"/>.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class ConfigLimitsTests
{
    private static string Error(string yaml) =>
        Assert.Throws<ConfigException>(() => SharingConfigLoader.Parse(yaml, "config.yaml")).Message;

    private const string TooDeep =
        "lists and mappings are nested more than 64 deep, the limit for a config file (the settings need at most 4)";

    [Fact]
    public void TheIssuesSixtyThousandBracketsAreAnErrorNotAStackOverflow() =>
        Assert.Equal($"config.yaml line 1: {TooDeep}", Error(BadConfigFiles.NestedYaml));

    [Fact]
    public void SixtyFourLevelsAreParsedAndSixtyFiveAreNot()
    {
        // The top-level mapping is the first level; x then holds 63 lists (ok) or 64 (one too many).
        Assert.Equal("config.yaml line 1: unknown key 'x' in the top level (allowed: version, resources, allocation, deviceListStrategy, health, memory; legacy forms: deviceSharing, or metaGpus and resourceName)",
            Error("x: " + new string('[', 63) + new string(']', 63) + "\n"));
        Assert.Equal($"config.yaml line 1: {TooDeep}", Error("x: " + new string('[', 64) + new string(']', 64) + "\n"));
    }

    [Fact]
    public void BlockNestingCountsToo()
    {
        var yaml = new StringBuilder();
        for (var i = 0; i < 70; i++)
            yaml.Append(' ', i).Append("k:\n");
        Assert.Equal($"config.yaml line 65: {TooDeep}", Error(yaml.ToString()));
    }

    [Fact]
    public void NestingThroughAnAliasCounts()
    {
        // Each anchored list is 30 deep and holds the one before: 30, 60, then 5 + 60 = 65 where *b is used.
        var yaml = $"a: &a {Nest(30, "0")}\nb: &b {Nest(30, "*a")}\nc: {Nest(5, "*b")}\n";
        Assert.Equal("config.yaml line 3: lists and mappings are nested more than 64 deep, counting what the alias '*b' repeats, " +
            "the limit for a config file (the settings need at most 4)", Error(yaml));
    }

    private static string Nest(int depth, string inner) => new string('[', depth) + inner + new string(']', depth);

    [Fact]
    public void AnAliasBombIsRefusedBeforeAnythingWalksIt()
    {
        // "Billion laughs": each level repeats the one before ten times. YamlDotNet hashes a mapping key through its
        // aliases, so the key on the last line alone would take 10^9 steps.
        var yaml = new StringBuilder("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for (var i = 1; i < 9; i++)
            yaml.Append($"a{i}: &a{i} [{string.Join(", ", Enumerable.Repeat($"*a{i - 1}", 10))}]\n");
        yaml.Append("? [*a8, *a8]\n: boom\n");

        var message = Error(yaml.ToString());

        Assert.Equal("config.yaml line 4: the file has more than 10000 values, lists and mappings (an alias counts as all it repeats), " +
            "the limit for a config file", message);
    }

    [Fact]
    public void AnAliasInsideTheNodeItNamesIsRefused()
    {
        // Without the check the model builds a list that contains itself, and hashing it as a key never ends.
        Assert.Equal("config.yaml line 1: the alias '*a' is inside the node it names, which would make that node contain itself",
            Error("? &a [*a]\n: 1\n"));
        Assert.Equal("config.yaml line 2: the alias '*r' is inside the node it names, which would make that node contain itself",
            Error("resources: &r\n  - name: *r\n"));
    }

    [Fact]
    public void AnAliasWithoutAnAnchorIsRefused() =>
        Assert.Equal("config.yaml line 1: the alias '*nothing' has no anchor (&) of that name before it", Error("resources: *nothing\n"));

    [Fact]
    public void ModestAliasesStillWork()
    {
        var c = SharingConfigLoader.Parse("""
            allocation: &a
              policy: spread
            health:
              ignoreXids: &x [48, 79]
              unignoreXids: [13]
            resources:
              - name: a.io/x
                gpus: [&g0 0]
              - name: b.io/y
                gpus: [1]
            """, "config.yaml");

        Assert.Equal(AllocationPolicyKind.Spread, c.Policy);
        Assert.Equal([48UL, 79UL], c.Health.IgnoreXids);
    }

    [Fact]
    public void TooManyNodesAreRefused()
    {
        Assert.Contains("unknown key 'x'", Error("x: [" + string.Join(",", Enumerable.Repeat("0", 9_000)) + "]\n"));
        Assert.Equal("config.yaml line 1: the file has more than 10000 values, lists and mappings (an alias counts as all it repeats), " +
            "the limit for a config file", Error("x: [" + string.Join(",", Enumerable.Repeat("0", 10_000)) + "]\n"));
    }

    [Fact]
    public void TextLargerThanAFileMayBeIsRefusedUnparsed() =>
        Assert.Equal("config.yaml: the text is larger than 1 MiB, the most a config file may be",
            Error("version: v1\n#" + new string('é', 600_000) + "\n"));

    [Fact]
    public void LongKeysAndValuesAreQuotedShort()
    {
        var key = new string('k', 500_000);
        Assert.Equal($"config.yaml line 1: unknown key '{key[..40]}…' in the top level (allowed: version, resources, allocation, deviceListStrategy, health, memory; legacy forms: deviceSharing, or metaGpus and resourceName)",
            Error($"? {key}\n: 1\n"));
        Assert.Equal($"config.yaml line 2: policy: '{new string('p', 40)}…' is not one of packed, spread",
            Error($"allocation:\n  policy: {new string('p', 500_000)}\n"));
        Assert.Equal($"config.yaml line 2: invalid YAML at column 3: Duplicate key '{key[..40]}…'",
            Error($"? {key}\n? {key}\n"));
    }

    [Theory]
    [InlineData("allocation:\n  policy: \"tight$6$secret\"\n", "config.yaml line 2: policy: 'tight…' is not one of packed, spread")]
    [InlineData("allocation:\n  policy: \"a\\nsecond line\"\n", "config.yaml line 2: policy: 'a…' is not one of packed, spread")]
    [InlineData("health:\n  ignoreXids: [\"48 'x'\"]\n", "config.yaml line 2: ignoreXids: '48 …' is not an XID (a non-negative integer)")]
    public void AQuoteStopsAtTheFirstCharacterNoSettingIsWrittenWith(string yaml, string expected) =>
        Assert.Equal(expected, Error(yaml));

    [Fact]
    public void AShadowLikeFileShowsNoneOfItsSecret()
    {
        var message = Error(BadConfigFiles.ShadowLike);

        Assert.StartsWith("config.yaml line 1: unknown key 'root:…' in the top level", message, StringComparison.Ordinal);
        Assert.DoesNotContain("$6$", message);
        Assert.DoesNotContain(BadConfigFiles.Secret[..6], message);
    }

    [Fact]
    public void AnOverlongUuidIsNotAGpu() =>
        Assert.Equal($"config.yaml line 3: gpus: 'GPU-{new string('a', 36)}…' is not \"*\", a GPU UUID (GPU-…, MIG-…) or a GPU index (0, 1, …)",
            Error($"resources:\n  - name: a.io/x\n    gpus: [GPU-{new string('a', 92)}]\n"));
}
