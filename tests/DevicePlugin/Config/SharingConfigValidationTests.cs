using MetaGpu.DevicePlugin.Config;

namespace MetaGpu.Tests.DevicePlugin.Config;

/// <summary>Every mistake is refused with a message naming the line, the field, what is allowed and what was found.</summary>
public sealed class SharingConfigValidationTests
{
    private static void AssertError(string yaml, string expected) => Assert.Equal(expected, TempConfig.LoadError(yaml));

    [Fact]
    public void TheBriefsExample() =>
        AssertError("""
            version: v1
            resources:
              - name: cnvrg.io/metagpu
                metaGpus: 0
            """, "config.yaml line 4: metaGpus must be 1..1000 (got 0)");

    [Theory]
    [InlineData("polciy: packed\n", "config.yaml line 1: unknown key 'polciy' in the top level (allowed: version, resources, allocation, deviceListStrategy, health, memory; legacy forms: deviceSharing, or metaGpus and resourceName)")]
    [InlineData("allocation:\n  polcy: packed\n", "config.yaml line 2: unknown key 'polcy' in allocation (allowed: policy, spanning)")]
    [InlineData("health:\n  ignoreXid: [48]\n", "config.yaml line 2: unknown key 'ignoreXid' in health (allowed: ignoreXids, unignoreXids, recoveryQuietPeriod)")]
    [InlineData("resources:\n  - name: a.io/x\n    metaGPUs: 10\n", "config.yaml line 3: unknown key 'metaGPUs' in a resource (allowed: name, metaGpus, gpus)")]
    [InlineData("resources:\n  - name: a.io/x\n    uuid: ['*']\n", "config.yaml line 3: unknown key 'uuid' in a resource (allowed: name, metaGpus, gpus)")]
    [InlineData("deviceSharing:\n  - resourceName: a.io/x\n    gpus: ['*']\n", "config.yaml line 3: unknown key 'gpus' in a deviceSharing entry (allowed: resourceName, metaGpus, uuid)")]
    [InlineData("resources:\n  - name: a.io/x\n    jwtSecret: hunter2\n", "config.yaml line 3: unknown key 'jwtSecret' in a resource (allowed: name, metaGpus, gpus)")]
    [InlineData("[a]: 1\n", "config.yaml line 1: a key in the top level must be a plain name (got a list)")]
    public void UnknownKeysAreNamedWithTheAllowedOnes(string yaml, string expected) => AssertError(yaml, expected);

    [Theory]
    [InlineData("- a\n- b\n", "config.yaml line 1: the top level must be a mapping of settings (got a list)")]
    [InlineData("just text\n", "config.yaml line 1: the top level must be a mapping of settings (got 'just text')")]
    [InlineData("resources: {name: a.io/x}\n", "config.yaml line 1: resources must be a list, e.g. [a, b] (got a mapping)")]
    [InlineData("resources:\n  - a.io/x\n", "config.yaml line 2: resources entries must be mappings with name, metaGpus, gpus (got 'a.io/x')")]
    [InlineData("resources:\n  - name: [a.io/x]\n", "config.yaml line 2: name must be a resource name such as example.com/gpu (got a list)")]
    [InlineData("resources:\n  - name:\n", "config.yaml line 2: name must be a resource name such as example.com/gpu (got nothing)")]
    [InlineData("resources:\n  - name: a.io/x\n    gpus: \"*\"\n", "config.yaml line 3: gpus must be a list, e.g. [a, b] (got '*')")]
    [InlineData("resources:\n  - name: a.io/x\n    gpus: [[0]]\n", "config.yaml line 3: gpus must be \"*\", a GPU UUID or a GPU index (got a list)")]
    [InlineData("resources:\n  - name: a.io/x\n    metaGpus: [10]\n", "config.yaml line 3: metaGpus must be an integer 1..1000 (got a list)")]
    [InlineData("allocation: [packed]\n", "config.yaml line 1: allocation must be a mapping of settings (got a list)")]
    [InlineData("allocation:\n  policy: {best: fit}\n", "config.yaml line 2: policy must be one of packed, spread (got a mapping)")]
    [InlineData("health: 48\n", "config.yaml line 1: health must be a mapping of settings (got '48')")]
    [InlineData("health:\n  ignoreXids: 48\n", "config.yaml line 2: ignoreXids must be a list, e.g. [a, b] (got '48')")]
    [InlineData("health:\n  recoveryQuietPeriod: [2m]\n", "config.yaml line 2: recoveryQuietPeriod must be a duration (e.g. 90s, 2m, 1h, 500ms) (got a list)")]
    [InlineData("version:\n", "config.yaml line 1: version must be v1 (got nothing)")]
    public void WrongTypesAreRefused(string yaml, string expected) => AssertError(yaml, expected);

    [Fact]
    public void LongWrongValuesAreCutInMessages()
    {
        var message = TempConfig.LoadError($"allocation: {new string('x', 500)}\n");

        Assert.Equal($"config.yaml line 1: allocation must be a mapping of settings (got '{new string('x', 40)}…')", message);
    }

    [Theory]
    [InlineData("version: v2\n", "config.yaml line 1: version: 'v2' is not supported (only v1)")]
    [InlineData("version: 1\n", "config.yaml line 1: version: '1' is not supported (only v1)")]
    public void OnlyVersionV1(string yaml, string expected) => AssertError(yaml, expected);

    [Theory]
    [InlineData("resources: []\n", "config.yaml line 1: resources must list at least one resource")]
    [InlineData("resources:\n", "config.yaml line 1: resources must list at least one resource")]
    [InlineData("deviceSharing: []\n", "config.yaml line 1: deviceSharing must list at least one resource")]
    [InlineData("resources:\n  - metaGpus: 10\n", "config.yaml line 2: name is required in a resource")]
    public void ResourcesMustBeThere(string yaml, string expected) => AssertError(yaml, expected);

    [Theory]
    [InlineData("example.com", "it must contain exactly one '/', between a domain and a name, e.g. example.com/gpu")]
    [InlineData("a/b/c", "it must contain exactly one '/', between a domain and a name, e.g. example.com/gpu")]
    [InlineData("/gpu", "the domain before '/' is empty")]
    [InlineData("example.com/", "the name after '/' is empty")]
    [InlineData("Example.com/gpu", "the domain 'Example.com' is not a lowercase DNS subdomain")]
    [InlineData("example..com/gpu", "the domain 'example..com' is not a lowercase DNS subdomain")]
    [InlineData("-example.com/gpu", "the domain '-example.com' is not a lowercase DNS subdomain")]
    [InlineData("kubernetes.io/gpu", "the kubernetes.io domain and its subdomains are reserved for Kubernetes' own resources")]
    [InlineData("nvidia.kubernetes.io/gpu", "the kubernetes.io domain and its subdomains are reserved")]
    [InlineData("requests.example.com/gpu", "names starting with 'requests.' are reserved for resource quotas")]
    [InlineData("example.com/-gpu", "the name after '/' must be letters, digits, '-', '_' and '.', starting and ending with a letter or digit")]
    [InlineData("example.com/gpu_", "the name after '/' must be letters, digits")]
    [InlineData("example.com/g pu", "the name after '/' must be letters, digits")]
    public void ResourceNamesTheKubeletWouldRefuse(string name, string why)
    {
        var message = TempConfig.LoadError($"resources:\n  - name: \"{name}\"\n");

        Assert.StartsWith($"config.yaml line 2: name: '{name}' is not a valid extended resource name: {why}", message, StringComparison.Ordinal);
    }

    [Fact]
    public void OverlongNamesAreRefused()
    {
        var longName = "example.com/" + new string('g', 64);
        Assert.Equal($"config.yaml line 2: name: '{longName[..40]}…' is not a valid extended resource name: the name after '/' is longer than 63 characters",
            TempConfig.LoadError($"resources:\n  - name: {longName}\n"));
        var longLabel = new string('a', 64) + ".com/gpu";
        Assert.Contains("is not a lowercase DNS subdomain", TempConfig.LoadError($"resources:\n  - name: {longLabel}\n"));
    }

    [Fact]
    public void DuplicateNamesAreRefused() =>
        AssertError("""
            resources:
              - name: a.io/x
                gpus: [0]
              - name: a.io/x
                gpus: [1]
            """, "config.yaml line 4: name: 'a.io/x' is already used by the resource on line 2");

    [Theory]
    [InlineData("0", "metaGpus must be 1..1000 (got 0)")]
    [InlineData("1001", "metaGpus must be 1..1000 (got 1001)")]
    [InlineData("-5", "metaGpus must be 1..1000 (got -5)")]
    [InlineData("ten", "metaGpus must be an integer 1..1000 (got 'ten')")]
    [InlineData("1.5", "metaGpus must be an integer 1..1000 (got '1.5')")]
    [InlineData("99999999999", "metaGpus must be an integer 1..1000 (got '99999999999')")]
    public void MetaGpusMustBeAnIntegerInRange(string value, string expected) =>
        AssertError($"resources:\n  - name: a.io/x\n    metaGpus: {value}\n", "config.yaml line 3: " + expected);

    [Theory]
    [InlineData("[]", "config.yaml line 3: gpus must not be empty (use [\"*\"] for every GPU no other resource names)")]
    [InlineData("[gpu-8e5b]", "config.yaml line 3: gpus: 'gpu-8e5b' is not \"*\", a GPU UUID (GPU-…, MIG-…) or a GPU index (0, 1, …)")]
    [InlineData("[-1]", "config.yaml line 3: gpus: '-1' is not \"*\", a GPU UUID (GPU-…, MIG-…) or a GPU index (0, 1, …)")]
    [InlineData("[\"GPU-\"]", "config.yaml line 3: gpus: 'GPU-' is not \"*\", a GPU UUID (GPU-…, MIG-…) or a GPU index (0, 1, …)")]
    [InlineData("[all]", "config.yaml line 3: gpus: 'all' is not \"*\", a GPU UUID (GPU-…, MIG-…) or a GPU index (0, 1, …)")]
    [InlineData("['*', 0]", "config.yaml line 3: gpus: '*' cannot be mixed with other entries: it already means every GPU no other resource names")]
    [InlineData("[0, 1, 0]", "config.yaml line 3: gpus: '0' is listed twice (also on line 3)")]
    public void GpuListsAreChecked(string gpus, string expected) =>
        AssertError($"resources:\n  - name: a.io/x\n    gpus: {gpus}\n", expected);

    [Fact]
    public void StarInTwoResourcesIsRefused() =>
        AssertError("""
            resources:
              - name: a.io/x
                gpus: ["*"]
              - name: b.io/y
                gpus:
                  - "*"
            """, "config.yaml line 6: gpus: '*' is already used by a.io/x (line 3); only one resource can take the GPUs no other resource names (a resource without gpus takes \"*\")");

    [Fact]
    public void TwoResourcesWithoutGpusBothTakeStar() =>
        AssertError("resources:\n  - name: a.io/x\n  - name: b.io/y\n",
            "config.yaml line 3: gpus: '*' is already used by a.io/x (line 2); only one resource can take the GPUs no other resource names (a resource without gpus takes \"*\")");

    [Fact]
    public void TheSameUuidInTwoResourcesIsRefused() =>
        AssertError("""
            resources:
              - name: a.io/x
                gpus: ["GPU-8e5b1f2a"]
              - name: b.io/y
                gpus: ["GPU-8E5B1F2A"]
            """,
            "config.yaml line 5: gpus: 'GPU-8E5B1F2A' is already given to a.io/x (line 3); a GPU belongs to one resource");

    [Fact]
    public void TheSameIndexInTwoResourcesIsRefused() =>
        AssertError("resources:\n  - name: a.io/x\n    gpus: [3]\n  - name: b.io/y\n    gpus: [\"03\"]\n",
            "config.yaml line 5: gpus: '03' is already given to a.io/x (line 3); a GPU belongs to one resource");

    [Fact]
    public void AUuidAndAnIndexAreNotComparedHere()
    {
        // Whether GPU 0 is GPU-abc is only known against the real GPUs; that check belongs to the share plan.
        var c = TempConfig.Load("resources:\n  - name: a.io/x\n    gpus: [0]\n  - name: b.io/y\n    gpus: [GPU-abc]\n");
        Assert.Equal(2, c.Resources.Count);
    }

    [Theory]
    [InlineData("allocation:\n  policy: tight\n", "config.yaml line 2: policy: 'tight' is not one of packed, spread")]
    [InlineData("allocation:\n  policy: Packed\n", "config.yaml line 2: policy: 'Packed' is not one of packed, spread")]
    [InlineData("allocation:\n  spanning: maybe\n", "config.yaml line 2: spanning: 'maybe' is not one of allow, reject")]
    [InlineData("deviceListStrategy: volume-mounts\n", "config.yaml line 1: deviceListStrategy: 'volume-mounts' is not one of envvar, cdi-cri, cdi-annotations")]
    public void ChoicesAreChecked(string yaml, string expected) => AssertError(yaml, expected);

    [Theory]
    [InlineData("health:\n  ignoreXids: [-1]\n", "config.yaml line 2: ignoreXids: '-1' is not an XID (a non-negative integer)")]
    [InlineData("health:\n  ignoreXids:\n    - 48\n    - abc\n", "config.yaml line 4: ignoreXids: 'abc' is not an XID (a non-negative integer)")]
    [InlineData("health:\n  unignoreXids: [1.5]\n", "config.yaml line 2: unignoreXids: '1.5' is not an XID (a non-negative integer)")]
    [InlineData("health:\n  ignoreXids: [48]\n  unignoreXids: [13, 48]\n", "config.yaml line 3: unignoreXids: '48' is also in ignoreXids (line 2); an XID is either added to the ignored set or removed from it")]
    public void XidsAreChecked(string yaml, string expected) => AssertError(yaml, expected);

    [Theory]
    [InlineData("2 minutes")]
    [InlineData("120")]
    [InlineData("-1s")]
    [InlineData("2d")]
    [InlineData("1.2.3s")]
    [InlineData("s")]
    public void DurationsAreChecked(string value) =>
        AssertError($"health:\n  recoveryQuietPeriod: {value}\n",
            $"config.yaml line 2: recoveryQuietPeriod: '{value}' is not a duration (e.g. 90s, 2m, 1h, 500ms)");

    [Theory]
    [InlineData("resources: [\n", "config.yaml line 2: invalid YAML at column 1: While parsing a node, did not find expected node content.")]
    [InlineData("policy: a: b\n", "config.yaml line 1: invalid YAML at column 10: While scanning a plain scalar value, found invalid mapping.")]
    [InlineData("version: v1\nversion: v1\n", "config.yaml line 2: invalid YAML at column 1: Duplicate key 'version'")]
    [InlineData("resources:\n  - name: \"a.io/x\\q\"\n", "config.yaml line 2: invalid YAML at column 11: While scanning a quoted scalar, found unknown escape character.")]
    public void InvalidYamlIsReportedWithLineAndColumn(string yaml, string expected) => AssertError(yaml, expected);

    [Fact]
    public void ParserFailuresWithoutAPositionAreConfigErrorsToo()
    {
        // YamlDotNet throws InvalidOperationException here rather than a YamlException.
        var message = TempConfig.LoadError("gpus: [&a \n0,-1100");

        Assert.StartsWith("config.yaml: invalid YAML (InvalidOperationException: ", message, StringComparison.Ordinal);
    }

    [Fact]
    public void OnlyOneDocument() =>
        AssertError("version: v1\n---\nversion: v1\n", "config.yaml line 2: only one YAML document is allowed (found a second after ---)");

    [Fact]
    public void DeviceSharingAndResourcesDoNotMix() =>
        AssertError("""
            resources:
              - name: a.io/x
            deviceSharing:
              - resourceName: b.io/y
            """, "config.yaml line 3: deviceSharing (the legacy form) cannot be mixed with resources; move its entries under resources");

    [Fact]
    public void TheFlatFormDoesNotMixWithLists()
    {
        Assert.Equal("config.yaml line 1: the legacy top-level metaGpus cannot be mixed with resources; set it per resource there",
            TempConfig.LoadError("metaGpus: 4\nresources:\n  - name: a.io/x\n"));
        Assert.Equal("config.yaml line 3: the legacy top-level resourceName cannot be mixed with deviceSharing; set it per resource there",
            TempConfig.LoadError("deviceSharing:\n  - resourceName: a.io/x\nresourceName: b.io/y\n"));
    }

    [Fact]
    public void ErrorsCarryTheLine()
    {
        using var dir = new TempConfig();
        var path = dir.Write("allocation:\n  policy: tight\n");

        var e = Assert.Throws<ConfigException>(() => SharingConfigLoader.Load(path));

        Assert.Equal(2, e.Line);
        Assert.Equal(path, e.SourceName);
    }
}
