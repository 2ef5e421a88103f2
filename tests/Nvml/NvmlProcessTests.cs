using System.Text;
using MetaGpu.Nvml;

namespace MetaGpu.Tests.Nvml;

/// <summary>GetProcesses, GetProcessUtilization and Probe through the real bindings against the fake libnvidia-ml.</summary>
[Collection(FakeNvmlCollection.Name)]
public sealed class NvmlProcessTests(FakeNvml fake)
{
    private const ulong GiB = 1UL << 30;
    private const string Gpus = """
        driver 550.54.15
        cuda 12040
        gpu index=0 uuid=GPU-zero name="GPU zero" mem_total=85899345920 mem_used=0 pci=00000000:07:00.0 minor=0
        gpu index=1 uuid=GPU-one name="GPU one" mem_total=85899345920 mem_used=0 pci=00000000:08:00.0 minor=1

        """;

    [Fact]
    public void ComputeAndGraphicsProcessesWithLargeAndUnknownMemory()
    {
        using var nvml = fake.Open(Gpus + $"""
            process gpu=0 pid=4242 mem={6 * GiB} kind=compute
            process gpu=0 pid=17 mem=na kind=compute
            process gpu=0 pid=900 mem={5 * GiB + 1} kind=graphics
            process gpu=0 pid=31 mem=1048576 kind=both
            process gpu=1 pid=5000 mem=1 kind=compute
            """);

        Assert.Equal(
            [
                new GpuProcess(4242, 6 * GiB, GpuProcessKind.Compute),
                new GpuProcess(17, null, GpuProcessKind.Compute),
                new GpuProcess(31, 1048576, GpuProcessKind.Compute), // in both lists: one entry, Compute wins
                new GpuProcess(900, 5 * GiB + 1, GpuProcessKind.Graphics),
            ],
            nvml.GetProcesses("GPU-zero"));
        Assert.Equal([new GpuProcess(5000, 1, GpuProcessKind.Compute)], nvml.GetProcesses("GPU-one"));
    }

    [Fact]
    public void TwoHundredProcessesOnOneGpuGrowTheBuffer()
    {
        var world = new StringBuilder(Gpus);
        for (var i = 0; i < 200; i++)
            world.Append($"process gpu=1 pid={10_000 + i} mem={(ulong)i * GiB + (ulong)i} kind=compute\n");
        for (var i = 0; i < 40; i++)
            world.Append($"process gpu=1 pid={20_000 + i} mem={i} kind=graphics\n");
        using var nvml = fake.Open(world.ToString());

        var processes = nvml.GetProcesses("GPU-one");
        Assert.Equal(240, processes.Count);
        for (var i = 0; i < 200; i++)
            Assert.Equal(new GpuProcess((uint)(10_000 + i), (ulong)i * GiB + (ulong)i, GpuProcessKind.Compute), processes[i]);
        for (var i = 0; i < 40; i++)
            Assert.Equal(new GpuProcess((uint)(20_000 + i), (ulong)i, GpuProcessKind.Graphics), processes[200 + i]);
        Assert.Empty(nvml.GetProcesses("GPU-zero"));
    }

    [Fact]
    public void ProcessesFollowTheWorldWhileTheBackendStaysOpen()
    {
        using var nvml = fake.Open(Gpus);
        Assert.Empty(nvml.GetProcesses("GPU-zero"));
        fake.Rewrite(Gpus + "process gpu=0 pid=77 mem=123 kind=compute\n");
        Assert.Equal([new GpuProcess(77, 123, GpuProcessKind.Compute)], nvml.GetProcesses("GPU-zero"));
    }

    [Fact]
    public void AnUnknownUuidIsNotFound()
    {
        using var nvml = fake.Open(Gpus);
        var e = Assert.Throws<GpuBackendException>(() => nvml.GetProcesses("GPU-nope"));
        Assert.Equal(("nvmlDeviceGetHandleByUUID", NvmlReturn.NotFound), (e.Function, e.Code));
        Assert.Contains("Not Found", e.Message);
    }

    [Fact]
    public void ProcessQueryErrorsAreFailures()
    {
        using var nvml = fake.Open(Gpus + "process gpu=0 pid=1 mem=1 kind=compute\nerror func=nvmlDeviceGetGraphicsRunningProcesses_v3 gpu=0 code=999\n");
        var e = Assert.Throws<GpuBackendException>(() => nvml.GetProcesses("GPU-zero"));
        Assert.Equal(("nvmlDeviceGetGraphicsRunningProcesses_v3", NvmlReturn.Unknown), (e.Function, e.Code));
        Assert.Empty(nvml.GetProcesses("GPU-one"));
    }

    [Fact]
    public void ProcessUtilizationSamplesNewerThanTheTimestamp()
    {
        var world = new StringBuilder(Gpus);
        world.Append("putil gpu=0 pid=4242 ts=1700000000000000 sm=50 mem=20 enc=3 dec=4\n");
        world.Append("putil gpu=0 pid=17 ts=1700000000500000 sm=7 mem=1\n");
        for (var i = 0; i < 70; i++)
            world.Append($"putil gpu=1 pid={i + 1} ts={1000 + i} sm={i} mem={i % 100}\n");
        using var nvml = fake.Open(world.ToString());

        Assert.Equal(
            [
                new ProcessUtilizationSample(4242, 1700000000000000, 50, 20, 3, 4),
                new ProcessUtilizationSample(17, 1700000000500000, 7, 1, 0, 0),
            ],
            nvml.GetProcessUtilization("GPU-zero", 0));
        Assert.Equal([new ProcessUtilizationSample(17, 1700000000500000, 7, 1, 0, 0)], nvml.GetProcessUtilization("GPU-zero", 1700000000000000));
        Assert.Empty(nvml.GetProcessUtilization("GPU-zero", 1700000000500000)); // NOT_FOUND: nothing newer

        var many = nvml.GetProcessUtilization("GPU-one", 0);
        Assert.Equal(70, many.Count);
        Assert.Equal(new ProcessUtilizationSample(70, 1069, 69, 69, 0, 0), many[69]);
    }

    [Fact]
    public void ProcessUtilizationErrorsAreFailures()
    {
        using var nvml = fake.Open(Gpus + "putil gpu=0 pid=1 ts=5 sm=1 mem=1\nerror func=nvmlDeviceGetProcessUtilization code=999\n");
        var e = Assert.Throws<GpuBackendException>(() => nvml.GetProcessUtilization("GPU-zero", 0));
        Assert.Equal(("nvmlDeviceGetProcessUtilization", NvmlReturn.Unknown), (e.Function, e.Code));
    }

    [Fact]
    public void ProbeSucceedsOnAHealthyGpuAndFailsOnALostOne()
    {
        using var nvml = fake.Open(Gpus + "lost gpu=1\n");
        nvml.Probe("GPU-zero");

        var lost = Assert.Throws<GpuBackendException>(() => nvml.Probe("GPU-one"));
        Assert.Equal(("nvmlDeviceGetMemoryInfo", NvmlReturn.GpuIsLost), (lost.Function, lost.Code));
        Assert.Contains("GPU is lost", lost.Message);

        var unknown = Assert.Throws<GpuBackendException>(() => nvml.Probe("GPU-two"));
        Assert.Equal(NvmlReturn.NotFound, unknown.Code);

        // Back on the bus: the next probe succeeds.
        fake.Rewrite(Gpus);
        nvml.Probe("GPU-one");
    }

    [Fact]
    public void ALostGpuIsListedAsUnavailableAndTheOthersStillCount()
    {
        using var nvml = fake.Open(Gpus + "lost gpu=0\n");
        var inventory = nvml.GetInventory();
        var lost = Assert.Single(inventory.Unavailable);
        Assert.Equal(0, lost.Index);
        Assert.Contains("GPU is lost", lost.Reason);
        Assert.DoesNotContain(inventory.Gpus, g => g.Index == 0);
        Assert.NotEmpty(inventory.Gpus);
    }
}
