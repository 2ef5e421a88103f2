using MetaGpu.DevicePlugin;
using MetaGpu.DevicePlugin.Config;
using MetaGpu.Nvml;

namespace MetaGpu.Tests.DevicePlugin;

/// <summary>The config resolved against this node's GPUs: who owns which GPU, and what the kubelet would refuse.</summary>
public sealed class SharePlanBuilderTests
{
    private static GpuInventory Node(int gpus, Func<int, string>? uuid = null, bool mig = false) => new("550", "12.4",
        Enumerable.Range(0, gpus).Select(i => new GpuInfo
        {
            Index = i,
            Uuid = uuid?.Invoke(i) ?? $"GPU-{i:x8}-0000-0000-0000-000000000000",
            Name = "A100",
            MemoryTotalBytes = 40UL << 30,
            MemoryUsedBytes = 0,
            MemoryFreeBytes = 40UL << 30,
            PciBusId = $"00000000:{i + 1:x2}:00.0",
            MinorNumber = (uint)i,
            NumaNode = i % 2,
            MigEnabled = mig && i == 0,
        }).ToList());

    private static SharingConfig Config(string yaml) => SharingConfigLoader.Parse(yaml, "config.yaml");

    [Fact]
    public void DefaultsSplitEveryGpuIntoAHundred()
    {
        var plan = SharePlanBuilder.Build(SharingConfig.Default, Node(2));
        var r = Assert.Single(plan.Resources);
        Assert.Equal("cnvrg.io/metagpu", r.ResourceName);
        Assert.Equal(200, r.Devices().Count());
        Assert.Equal("cnvrg-meta-1-99-GPU-00000001-0000-0000-0000-000000000000", r.Devices().Last().ToString());
        Assert.Equal(409UL, r.Gpus[0].ShareMemoryMiB);
    }

    [Fact]
    public void WildcardTakesTheGpusNoOtherResourceNames()
    {
        var plan = SharePlanBuilder.Build(Config("""
            resources:
              - name: cnvrg.io/metagpu
                gpus: ["*"]
              - name: example.com/small
                metaGpus: 10
                gpus: [2, "GPU-00000000-0000-0000-0000-000000000000"]
            """), Node(4));
        Assert.Equal([1, 3], plan.Find("cnvrg.io/metagpu")!.Gpus.Select(g => g.Index));
        Assert.Equal([0, 2], plan.Find("example.com/small")!.Gpus.Select(g => g.Index));
        Assert.Equal(20, plan.Find("example.com/small")!.Devices().Count());
    }

    [Fact]
    public void AGpuClaimedByTwoResourcesThroughUuidAndIndexIsAnError()
    {
        var e = Assert.Throws<ConfigException>(() => SharePlanBuilder.Build(Config("""
            resources:
              - name: a.example.com/x
                gpus: ["GPU-00000001-0000-0000-0000-000000000000"]
              - name: b.example.com/y
                gpus: [1]
            """), Node(2)));
        Assert.Contains("claimed by both a.example.com/x and b.example.com/y", e.Message);
        Assert.Contains("line ", e.Message);
    }

    [Fact]
    public void GpusMissingFromThisNodeAreWarningsNotErrors()
    {
        var plan = SharePlanBuilder.Build(Config("""
            resources:
              - name: cnvrg.io/metagpu
                gpus: [0, 7, "GPU-ffffffff-0000-0000-0000-000000000000"]
            """), Node(1));
        Assert.Single(plan.Resources[0].Gpus);
        Assert.Equal(2, plan.Warnings.Count(w => w.Contains("not on this node")));
    }

    [Fact]
    public void MigGpusAreLeftOutWithAWarning()
    {
        var plan = SharePlanBuilder.Build(SharingConfig.Default, Node(2, mig: true));
        Assert.Equal([1], plan.Resources[0].Gpus.Select(g => g.Index));
        Assert.Contains(plan.Warnings, w => w.Contains("MIG"));
    }

    [Fact]
    public void DeviceIdsLongerThanTheKubeletAcceptsAreRefused()
    {
        var e = Assert.Throws<ConfigException>(() => SharePlanBuilder.Build(SharingConfig.Default,
            Node(1, _ => "MIG-GPU-5c89852c-d268-c3f3-1b07-005d5ae1dc3f/7/0-extra")));
        Assert.Contains("at most 63", e.Message);
    }

    [Fact]
    public void APlanTooBigForOneListAndWatchMessageIsRefused()
    {
        var big = Config("resources:\n  - name: cnvrg.io/metagpu\n    metaGpus: 1000\n    gpus: [\"*\"]\n");
        var fits = SharePlanBuilder.Build(big, Node(40));
        Assert.True(SharePlanBuilder.ListAndWatchSize(fits.Resources[0]) < SharePlanBuilder.KubeletMaxMessageSize);
        var e = Assert.Throws<ConfigException>(() => SharePlanBuilder.Build(big, Node(64)));
        Assert.Contains("ListAndWatch", e.Message);
        Assert.Contains("lower metaGpus", e.Message);
    }
}
