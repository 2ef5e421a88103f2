using MetaGpu.Nvml;

namespace MetaGpu.Tests.Nvml;

/// <summary>GetInventory through the real bindings against the fake libnvidia-ml: every field, exactly.</summary>
[Collection(FakeNvmlCollection.Name)]
public sealed class NvmlInventoryTests(FakeNvml fake)
{
    private const ulong GiB = 1UL << 30;

    // 96 characters: one more than nvml.h's 96-byte name buffer holds with its NUL, so the bindings must grow it.
    internal static readonly string Name96 = "NVIDIA H100 80GB HBM3 " + new string('x', 96 - 22);
    internal static readonly string Name95 = "NVIDIA A100-SXM4-80GB " + new string('y', 95 - 22);
    internal const string MigUuid = "MIG-GPU-5c89852c-d268-c3f3-1b07-005d5ae1dc3f/7/0";
    internal static readonly string Uuid96 = "GPU-" + new string('f', 92);

    internal static readonly string FourGpus = $"""
        # four GPUs, listed out of index order
        driver 550.54.15
        cuda 12040
        gpu index=0 uuid=GPU-0a1b2c3d-0000-1111-2222-333344445555 name="{Name96}" mem_total={80 * GiB} mem_used={6 * GiB} pci=00000000:07:00.0 pci_device_id=0x233010DE minor=0 compute_mode=0 mig=1 temp=41 power=71500 util_gpu=33 util_mem=12
        gpu index=1 uuid={MigUuid} name="{Name95}" mem_total={80 * GiB} mem_used=0 mem_free=85000000000 pci=00000000:0F:00.0 minor=3 compute_mode=3 mig=0 temp=38 power=65000 util_gpu=0 util_mem=0
        gpu index=3 uuid=GPU-33333333-3333-3333-3333-333333333333 name="NVIDIA A10" mem_total={24 * GiB} mem_used={GiB} pci=00000000:C1:00.0 minor=1 compute_mode=1 mig=0 temp=90 power=150000 util_gpu=100 util_mem=100
        gpu index=2 uuid={Uuid96} name="Tesla T4 \"quoted\" für" mem_total={16 * GiB} mem_used=1 pci=00000001:8A:00.0 minor=2 compute_mode=2 temp=0 power=0 util_gpu=1 util_mem=2
        """;

    private string FourGpuSysfs() => fake.Sysfs(("0000:07:00.0", "0\n"), ("0000:0f:00.0", "1\n"), ("0001:8a:00.0", "-1\n"));

    [Fact]
    public void EveryFieldOfFourGpusComesThroughExactly()
    {
        using var nvml = fake.Open(FourGpus, FourGpuSysfs());
        var inventory = nvml.GetInventory();

        Assert.Equal("nvml", nvml.Kind);
        Assert.Equal("550.54.15", inventory.DriverVersion);
        Assert.Equal("12.4", inventory.CudaDriverVersion);
        Assert.Equal([0, 1, 2, 3], inventory.Gpus.Select(g => g.Index));

        Assert.Equal(new GpuInfo
        {
            Index = 0,
            Uuid = "GPU-0a1b2c3d-0000-1111-2222-333344445555",
            Name = Name96,
            MemoryTotalBytes = 80 * GiB,
            MemoryUsedBytes = 6 * GiB,
            MemoryFreeBytes = 74 * GiB,
            PciBusId = "00000000:07:00.0",
            MinorNumber = 0,
            NumaNode = 0,
            ComputeMode = "Default",
            MigEnabled = true,
            TemperatureCelsius = 41,
            PowerMilliwatts = 71500,
            UtilizationGpuPercent = 33,
            UtilizationMemoryPercent = 12,
        }, inventory.Gpus[0]);

        Assert.Equal(new GpuInfo
        {
            Index = 1,
            Uuid = MigUuid,
            Name = Name95,
            MemoryTotalBytes = 80 * GiB,
            MemoryUsedBytes = 0,
            MemoryFreeBytes = 85_000_000_000,
            PciBusId = "00000000:0F:00.0",
            MinorNumber = 3,
            NumaNode = 1,
            ComputeMode = "ExclusiveProcess",
            MigEnabled = false,
            TemperatureCelsius = 38,
            PowerMilliwatts = 65000,
            UtilizationGpuPercent = 0,
            UtilizationMemoryPercent = 0,
        }, inventory.Gpus[1]);

        Assert.Equal(new GpuInfo
        {
            Index = 2,
            Uuid = Uuid96,
            Name = "Tesla T4 \"quoted\" für",
            MemoryTotalBytes = 16 * GiB,
            MemoryUsedBytes = 1,
            MemoryFreeBytes = 16 * GiB - 1,
            PciBusId = "00000001:8A:00.0",
            MinorNumber = 2,
            NumaNode = null, // numa_node says -1
            ComputeMode = "Prohibited",
            MigEnabled = null, // no MIG on this GPU
            TemperatureCelsius = 0,
            PowerMilliwatts = 0,
            UtilizationGpuPercent = 1,
            UtilizationMemoryPercent = 2,
        }, inventory.Gpus[2]);

        var a10 = inventory.Gpus[3];
        Assert.Equal(("GPU-33333333-3333-3333-3333-333333333333", "NVIDIA A10", "00000000:C1:00.0", 1u), (a10.Uuid, a10.Name, a10.PciBusId, a10.MinorNumber));
        Assert.Equal(("ExclusiveThread", (bool?)false, (uint?)90, (uint?)150000, (uint?)100, (uint?)100),
            (a10.ComputeMode, a10.MigEnabled, a10.TemperatureCelsius, a10.PowerMilliwatts, a10.UtilizationGpuPercent, a10.UtilizationMemoryPercent));
        Assert.Null(a10.NumaNode); // no numa_node file at all
    }

    [Theory]
    [InlineData(12040, "12.4")]
    [InlineData(11080, "11.8")]
    [InlineData(12000, "12.0")]
    [InlineData(13010, "13.1")]
    [InlineData(9020, "9.2")]
    public void CudaDriverVersionIsMajorDotMinor(int raw, string expected)
    {
        using var nvml = fake.Open($"driver 1\ncuda {raw}\n");
        var inventory = nvml.GetInventory();
        Assert.Equal(expected, inventory.CudaDriverVersion);
        Assert.Empty(inventory.Gpus);
    }

    [Fact]
    public void UnsupportedOptionalQueriesAreNullAndEverythingElseIsIntact()
    {
        // GPU 0 leaves every optional field out (the fake answers NOT_SUPPORTED); GPU 1 has them all but its
        // temperature and process utilisation are made NOT_SUPPORTED by injected errors.
        using var nvml = fake.Open($"""
            driver 535.183.01
            cuda 12020
            gpu index=0 uuid=GPU-plain name="Bare GPU" mem_total={8 * GiB} mem_used={2 * GiB} pci=00000000:01:00.0 minor=7
            gpu index=1 uuid=GPU-full name="Full GPU" mem_total={8 * GiB} mem_used=0 pci=00000000:02:00.0 minor=8 compute_mode=0 mig=0 temp=50 power=1000 util_gpu=5 util_mem=6
            error func=nvmlDeviceGetTemperature gpu=1 code=3
            error func=nvmlDeviceGetProcessUtilization code=3
            putil gpu=1 pid=1 ts=5 sm=1 mem=1
            """);
        var gpus = nvml.GetInventory().Gpus;

        var bare = gpus[0];
        Assert.Equal(("GPU-plain", "Bare GPU", 8 * GiB, 2 * GiB, 6 * GiB, "00000000:01:00.0", 7u),
            (bare.Uuid, bare.Name, bare.MemoryTotalBytes, bare.MemoryUsedBytes, bare.MemoryFreeBytes, bare.PciBusId, bare.MinorNumber));
        Assert.Null(bare.ComputeMode);
        Assert.Null(bare.MigEnabled);
        Assert.Null(bare.TemperatureCelsius);
        Assert.Null(bare.PowerMilliwatts);
        Assert.Null(bare.UtilizationGpuPercent);
        Assert.Null(bare.UtilizationMemoryPercent);

        var full = gpus[1];
        Assert.Null(full.TemperatureCelsius);
        Assert.Equal(("Default", (bool?)false, (uint?)1000, (uint?)5, (uint?)6),
            (full.ComputeMode, full.MigEnabled, full.PowerMilliwatts, full.UtilizationGpuPercent, full.UtilizationMemoryPercent));
        Assert.Empty(nvml.GetProcessUtilization("GPU-full", 0));
    }

    [Fact]
    public void AnErrorOnARequiredCallNamesTheFunctionAndCarriesNvmlsWords()
    {
        using var nvml = fake.Open($"""
            driver 550.54.15
            cuda 12040
            gpu index=0 uuid=GPU-a name=A mem_total={GiB} mem_used=0 pci=00000000:01:00.0 minor=0
            error func=nvmlDeviceGetMemoryInfo code=999
            """);
        // One GPU's failure is reported for that GPU, in NVML's words, without failing the inventory.
        var inventory = nvml.GetInventory();
        Assert.Empty(inventory.Gpus);
        var problem = Assert.Single(inventory.Unavailable);
        Assert.Equal((0, "GPU-a"), (problem.Index, problem.Uuid));
        Assert.Equal("nvmlDeviceGetMemoryInfo failed: Unknown Error (NVML error 999)", problem.Reason);
    }

    [Fact]
    public void AnErrorOtherThanNotSupportedOnAnOptionalQueryIsAFailure()
    {
        using var nvml = fake.Open($"""
            driver 550.54.15
            cuda 12040
            gpu index=0 uuid=GPU-a name=A mem_total={GiB} mem_used=0 pci=00000000:01:00.0 minor=0 power=5
            error func=nvmlDeviceGetPowerUsage code=4
            """);
        var problem = Assert.Single(nvml.GetInventory().Unavailable);
        Assert.StartsWith("nvmlDeviceGetPowerUsage failed:", problem.Reason);
        Assert.Contains("Insufficient Permissions", problem.Reason);
    }

    [Fact]
    public void SystemCallsFailLikeDeviceCalls()
    {
        using var nvml = fake.Open("driver 1\ncuda 12040\nerror func=nvmlSystemGetDriverVersion code=9\n");
        var e = Assert.Throws<GpuBackendException>(nvml.GetInventory);
        Assert.Equal(("nvmlSystemGetDriverVersion", NvmlReturn.DriverNotLoaded), (e.Function, e.Code));
        Assert.Contains("Driver Not Loaded", e.Message);
    }

    [Fact]
    public void TheInventoryFollowsTheWorldWhileTheBackendStaysOpen()
    {
        using var nvml = fake.Open($"driver 1\ncuda 12040\ngpu index=0 uuid=GPU-a name=A mem_total={GiB} mem_used=0 pci=00000000:01:00.0 minor=0 temp=40\n");
        Assert.Equal(40u, nvml.GetInventory().Gpus[0].TemperatureCelsius);
        fake.Rewrite($"driver 1\ncuda 12040\ngpu index=0 uuid=GPU-a name=A mem_total={GiB} mem_used={GiB / 2} pci=00000000:01:00.0 minor=0 temp=77\n");
        var gpu = nvml.GetInventory().Gpus[0];
        Assert.Equal((77u, GiB / 2), (gpu.TemperatureCelsius!.Value, gpu.MemoryUsedBytes));
    }
}
