using MetaGpu.DevicePlugin.Config;

namespace MetaGpu.Tests.DevicePlugin.Config;

/// <summary>The original MetaGPU's ConfigMaps keep working: their sharing is read, their other keys are ignored with warnings.</summary>
public sealed class LegacyConfigTests
{
    private const string Secret = "s3cr3t-Value-nobody-may-see";

    /// <summary>The original chart's ConfigMap, with every key it had.</summary>
    private const string OriginalConfig = $"""
        accelerator: nvidia
        processesDiscoveryPeriod: 5
        deviceCacheTTL: 3600
        jwtSecret: {Secret}
        deviceToken: {Secret}-device
        containerToken: "{Secret}-container"
        mgctlTar: /usr/local/share/mgctl.tar
        mgctlAutoInject: true
        mgctlMount: true
        mgctlMountHostPath: /var/lib/metagpu
        mgctlMountContainertPath: /host/metagpu
        serverAddr: 0.0.0.0:50052
        memoryEnforcer: true
        autoReshare: true
        deviceSharing:
          - resourceName: cnvrg.io/metagpu
            autoReshare: true
            metaGpus: 2
            uuid: [ "*" ]
          - resourceName: cnvrg.io/metagpu-a100
            metaGpus: 10
            uuid:
              - GPU-8e5b1f2a-3c4d-5e6f-7a8b-9c0d1e2f3a4b
        """;

    [Fact]
    public void TheDeviceSharingFormIsRead()
    {
        var c = TempConfig.Load(OriginalConfig);

        Assert.Equal(2, c.Resources.Count);
        Assert.Equal(new ResourceSharing("cnvrg.io/metagpu", 2, c.Resources[0].Gpus, 16), c.Resources[0]);
        Assert.Equal(["*"], c.Resources[0].Gpus);
        Assert.Equal(new ResourceSharing("cnvrg.io/metagpu-a100", 10, c.Resources[1].Gpus, 20), c.Resources[1]);
        Assert.Equal(["GPU-8e5b1f2a-3c4d-5e6f-7a8b-9c0d1e2f3a4b"], c.Resources[1].Gpus);
        Assert.Equal(AllocationPolicyKind.Packed, c.Policy);
        Assert.Equal(DeviceListStrategy.EnvVar, c.DeviceListStrategy);
    }

    [Fact]
    public void EveryObsoleteKeyIsAWarningWithItsLine()
    {
        var c = TempConfig.Load(OriginalConfig);

        string[] obsolete = ["accelerator", "processesDiscoveryPeriod", "deviceCacheTTL", "mgctlTar", "mgctlAutoInject", "mgctlMount",
            "mgctlMountHostPath", "mgctlMountContainertPath", "serverAddr", "memoryEnforcer", "autoReshare"];
        Assert.Equal(15, c.Warnings.Count); // 11 obsolete, 3 secrets, autoReshare inside deviceSharing
        foreach (var key in obsolete)
            Assert.Contains(c.Warnings, w => w.EndsWith($": {key} is a setting of the original MetaGPU that this version does not use; it is ignored", StringComparison.Ordinal));
        Assert.Contains(c.Warnings, w => w.EndsWith("config.yaml line 1: accelerator is a setting of the original MetaGPU that this version does not use; it is ignored", StringComparison.Ordinal));
        Assert.Contains(c.Warnings, w => w.EndsWith("config.yaml line 17: autoReshare is a setting of the original MetaGPU that this version does not use; it is ignored", StringComparison.Ordinal));
    }

    [Fact]
    public void SecretsAreReportedWithoutTheirValues()
    {
        var c = TempConfig.Load(OriginalConfig);

        Assert.Contains(c.Warnings, w => w.EndsWith("config.yaml line 4: jwtSecret is ignored: MetaGPU no longer uses shared tokens; remove it from the ConfigMap", StringComparison.Ordinal));
        Assert.Contains(c.Warnings, w => w.EndsWith("config.yaml line 5: deviceToken is ignored: MetaGPU no longer uses shared tokens; remove it from the ConfigMap", StringComparison.Ordinal));
        Assert.Contains(c.Warnings, w => w.EndsWith("config.yaml line 6: containerToken is ignored: MetaGPU no longer uses shared tokens; remove it from the ConfigMap", StringComparison.Ordinal));
        Assert.DoesNotContain(c.Warnings, w => w.Contains(Secret, StringComparison.Ordinal));
        Assert.DoesNotContain(Secret, c.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void AnErrorElsewhereDoesNotEchoTheSecrets()
    {
        var message = TempConfig.LoadError(OriginalConfig.Replace("metaGpus: 2", "metaGpus: 0", StringComparison.Ordinal));

        Assert.Equal("config.yaml line 18: metaGpus must be 1..1000 (got 0)", message);
        Assert.DoesNotContain(Secret, message, StringComparison.Ordinal);
    }

    [Fact]
    public void ASecretWithAStructuredValueIsStillOnlyAWarning()
    {
        var c = TempConfig.Load($"jwtSecret:\n  key: {Secret}\n  other: [1, 2]\nmetaGpus: 4\n");

        Assert.Equal(4, c.Resources[0].MetaGpus);
        Assert.DoesNotContain(c.Warnings, w => w.Contains(Secret, StringComparison.Ordinal));
    }

    [Fact]
    public void DeviceSharingDefaults()
    {
        var c = TempConfig.Load("deviceSharing:\n  - resourceName: example.com/gpu\n");

        var r = Assert.Single(c.Resources);
        Assert.Equal(100, r.MetaGpus);
        Assert.Equal(["*"], r.Gpus);
        Assert.Empty(c.Warnings);
    }

    [Fact]
    public void DeviceSharingIsCheckedLikeResources()
    {
        Assert.Equal("config.yaml line 2: resourceName is required in a deviceSharing entry",
            TempConfig.LoadError("deviceSharing:\n  - metaGpus: 4\n"));
        Assert.Equal("config.yaml line 3: uuid: 'GPU-a' is already given to a.io/x (line 2); a GPU belongs to one resource",
            TempConfig.LoadError("deviceSharing:\n  - {resourceName: a.io/x, uuid: [GPU-a]}\n  - {resourceName: b.io/y, uuid: [GPU-a]}\n"));
        Assert.Equal("config.yaml line 2: resourceName: 'metagpu' is not a valid extended resource name: it must contain exactly one '/', between a domain and a name, e.g. example.com/gpu",
            TempConfig.LoadError("deviceSharing:\n  - resourceName: metagpu\n"));
    }

    [Fact]
    public void TheOldestFlatFormIsRead()
    {
        var c = TempConfig.Load($"accelerator: nvidia\nmetaGpus: 4\nresourceName: example.com/metagpu\njwtSecret: {Secret}\n");

        var r = Assert.Single(c.Resources);
        Assert.Equal(new ResourceSharing("example.com/metagpu", 4, r.Gpus, 2), r);
        Assert.Equal(["*"], r.Gpus);
        Assert.Equal(2, c.Warnings.Count);
        Assert.DoesNotContain(c.Warnings, w => w.Contains(Secret, StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("metaGpus: 8\n", "cnvrg.io/metagpu", 8)]
    [InlineData("resourceName: example.com/gpu\n", "example.com/gpu", 100)]
    public void TheFlatFormDefaultsWhatIsMissing(string yaml, string name, int metaGpus)
    {
        var r = Assert.Single(TempConfig.Load(yaml).Resources);

        Assert.Equal(name, r.ResourceName);
        Assert.Equal(metaGpus, r.MetaGpus);
        Assert.Equal(["*"], r.Gpus);
    }

    [Fact]
    public void TheFlatFormIsCheckedToo()
    {
        Assert.Equal("config.yaml line 1: metaGpus must be 1..1000 (got 5000)", TempConfig.LoadError("metaGpus: 5000\n"));
        Assert.Equal("config.yaml line 1: resourceName: 'kubernetes.io/gpu' is not a valid extended resource name: the kubernetes.io domain and its subdomains are reserved for Kubernetes' own resources",
            TempConfig.LoadError("resourceName: kubernetes.io/gpu\n"));
    }

    [Fact]
    public void LegacyFormsTakeTheNewSections()
    {
        var c = TempConfig.Load("deviceSharing:\n  - resourceName: a.io/x\nallocation:\n  policy: spread\nhealth:\n  ignoreXids: [48]\n");

        Assert.Equal(AllocationPolicyKind.Spread, c.Policy);
        Assert.Equal([48UL], c.Health.IgnoreXids);
    }
}
