using MetaGpu.Nvml;
using MetaGpu.Usage.Workload;
using static MetaGpu.Tests.Usage.Workload.WorkloadScenario;

namespace MetaGpu.Tests.Usage.Workload;

/// <summary>The attribution rules of the workload view, on <see cref="WorkloadScenario"/>'s node.</summary>
public sealed class WorkloadBuilderTests
{
    [Fact]
    public void EachProcessIsAttributedToTheContainerWhoseAllocationItHasMounted()
    {
        var s = new WorkloadScenario();
        s.Run(101, Gpu0, 1 * GiB, s.A.Key).Run(102, Gpu0, GiB / 2, s.A.Key).Run(201, Gpu0, 2 * GiB, s.B.Key).Run(301, Gpu1, 3 * GiB, s.C.Key);

        var v = s.Build();

        Assert.Equal(3, v.Containers.Count);
        var a = Assert.Single(v.Containers, c => c.Pod == "notebook-a");
        Assert.Equal(("team-a", "main", Resource, 30), (a.Namespace, a.Container, a.Resource, a.Request));
        Assert.Equal([101, 102], a.Processes.Select(p => p.Pid).Order());
        var gpu = Assert.Single(a.Gpus);
        Assert.Equal((Gpu0, 30, 100), (gpu.Uuid, gpu.MetaDevices, gpu.MetaGpus));
        Assert.Equal(16384UL * 30 / 100 << 20, gpu.MemoryAllowedBytes);
        Assert.Equal(GiB + GiB / 2, gpu.MemoryUsedBytes);
        Assert.Equal([201], Assert.Single(v.Containers, c => c.Pod == "train-b").Processes.Select(p => p.Pid));
        var c = Assert.Single(v.Containers, c => c.Pod == "serve-c");
        Assert.Equal(Gpu1, Assert.Single(c.Processes).GpuUuid);
        Assert.Empty(v.Unallocated);
        Assert.True(v.PodResourcesAvailable);
    }

    [Fact]
    public void ProcessesWithoutAnAllocationOrWithAnUnreadableProcOrAForeignMountAreUnallocated()
    {
        var s = new WorkloadScenario();
        s.Run(201, Gpu0, GiB, s.B.Key)
            .Run(900, Gpu0, GiB)                           // a host process: nothing mounted
            .RunUnreadable(901, Gpu0, GiB)                 // exited or invisible
            .Run(902, Gpu0, GiB, new string('a', 40));     // a key whose file we never wrote

        var v = s.Build();

        Assert.Equal([900, 901, 902], v.Unallocated.Select(p => p.Pid).Order());
        Assert.False(v.Unallocated.Single(p => p.Pid == 901).Identified);
        Assert.True(v.Unallocated.Single(p => p.Pid == 900).Identified);
        Assert.All(v.Unallocated, p => Assert.Null(p.AllocationKey));
        Assert.Equal([201], Assert.Single(v.Containers, c => c.Pod == "train-b").Processes.Select(p => p.Pid));
    }

    [Fact]
    public void AContainerWithoutGpuProcessesIsStillShownWithItsAllowance()
    {
        var s = new WorkloadScenario();

        var v = s.Build();

        Assert.Equal(["notebook-a", "serve-c", "train-b"], v.Containers.Select(c => c.Pod).Order());
        Assert.All(v.Containers, c => Assert.Equal(0UL, c.Gpus.Single().MemoryUsedBytes));
    }

    [Fact]
    public void WithoutPodResourcesContainersWithProcessesAreShownUnnamed()
    {
        var s = new WorkloadScenario { PodResourcesAvailable = false };
        s.Run(201, Gpu0, GiB, s.B.Key);

        var v = s.Build();

        var b = Assert.Single(v.Containers);
        Assert.Equal(("", "", ""), (b.Namespace, b.Pod, b.Container));
        Assert.Equal(s.B.Key, b.AllocationKey);
        Assert.Equal(40, b.Request);
        Assert.False(v.PodResourcesAvailable);
    }

    [Fact]
    public void UseOfAGpuOutsideTheAllocationCountsAsAllowedNothingThere()
    {
        var s = new WorkloadScenario();
        s.Run(101, Gpu1, GiB, s.A.Key);

        var a = Assert.Single(s.Build().Containers, c => c.Pod == "notebook-a");

        var stray = Assert.Single(a.Gpus, g => g.Uuid == Gpu1);
        Assert.Equal((0UL, GiB), (stray.MemoryAllowedBytes, stray.MemoryUsedBytes));
        Assert.Equal(0UL, a.Gpus.Single(g => g.Uuid == Gpu0).MemoryUsedBytes);
    }

    [Fact]
    public void AProcessOfTwoResourcesCountsOnTheGpuOfTheAllocationThatHasIt()
    {
        var s = new WorkloadScenario();
        s.Run(500, Gpu1, GiB, s.A.Key, s.C.Key);

        var v = s.Build();

        Assert.Empty(Assert.Single(v.Containers, c => c.Pod == "notebook-a").Processes);
        Assert.Equal([500], Assert.Single(v.Containers, c => c.Pod == "serve-c").Processes.Select(p => p.Pid));
    }

    [Fact]
    public void SmUtilisationComesFromEachProcesssNewestSample()
    {
        var s = new WorkloadScenario();
        s.Run(101, Gpu0, GiB, s.A.Key).Run(102, Gpu0, GiB, s.A.Key);
        s.Utilization[Gpu0].AddRange([new ProcessUtilizationSample(101, 10, 90, 0, 0, 0), new ProcessUtilizationSample(101, 20, 15, 0, 0, 0),
            new ProcessUtilizationSample(102, 15, 10, 0, 0, 0)]);

        var a = Assert.Single(s.Build().Containers, c => c.Pod == "notebook-a");

        Assert.Equal(15u, a.Processes.Single(p => p.Pid == 101).SmPercent);
        Assert.Equal(10u, a.Processes.Single(p => p.Pid == 102).SmPercent);
        Assert.Equal(25u, a.Gpus.Single().SmPercent);
        Assert.Equal(30.0, a.Gpus.Single().SharePercent);
    }

    [Fact]
    public void EveryGpuIsShownWithItsSplitAndMemory()
    {
        var v = new WorkloadScenario().Build();

        Assert.Equal([0, 1], v.Gpus.Select(g => g.Index));
        var split = Assert.Single(v.Gpus[0].Shares);
        Assert.Equal((Resource, 100, 16384UL / 100), (split.Resource, split.MetaGpus, split.ShareMemoryMiB));
        Assert.Equal(16 * GiB, v.Gpus[0].MemoryTotalBytes);
        Assert.Equal(3 * GiB, v.Gpus[0].MemoryUsedBytes);
    }

    [Fact]
    public void AProcessThatHidItsMountTakesTheAllocationOfItsContainer()
    {
        var s = new WorkloadScenario();
        // 202 dropped the mount from its own mount table; its cgroup still names B's container ("c201").
        s.Run(201, Gpu0, GiB, s.B.Key).Run(202, Gpu0, 2 * GiB);
        s.Identities[202] = s.Identities[202]! with { Cgroup = s.Identities[201]!.Cgroup };
        // 900 hid too, in a container where nobody shows a mount: it stays unattributed.
        s.Run(900, Gpu0, GiB);

        var v = s.Build();

        Assert.Equal([201, 202], Assert.Single(v.Containers, c => c.Pod == "train-b").Processes.Select(p => p.Pid).Order());
        Assert.Equal([900], v.Unallocated.Select(p => p.Pid));
    }
}
