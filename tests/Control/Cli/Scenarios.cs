using MetaGpu.Control.V1;

namespace MetaGpu.Tests.Control.Cli;

/// <summary>
/// Canned answers of a daemon on a two-GPU node, as a caller inside an allocation and as the node see them. The
/// numbers are chosen so that every column has something to show: a share of a third, memory over its limit on GPU 1,
/// a process outside the caller's pid namespace, an unnamed container, a process of no allocation.
/// </summary>
public static class Scenarios
{
    public const ulong MiB = 1024 * 1024;
    public const ulong GiB = 1024 * MiB;

    /// <summary>The tests' clock: what "Refreshed: 3s ago" is measured from.</summary>
    public static readonly DateTimeOffset Now = new(2024, 5, 17, 9, 30, 0, TimeSpan.Zero);
    public static readonly long RefreshedUnixMs = Now.ToUnixTimeMilliseconds() - 3_000;

    public const string KeyA = "3f2a1b2c9d0e4f5a6b7c8d9e0f1a2b3c4d5e6f70";
    public const string KeyB = "9c8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b";
    public const string KeyC = "0a1b2c3d4e5f60718293a4b5c6d7e8f901234567";
    public const string Gpu0 = "GPU-8e5b5a5c-1111-2222-3333-444455556666";
    public const string Gpu1 = "GPU-00c0ffee-1111-2222-3333-444455556666";

    public static AllocationRef NotebookA => new() { Key = KeyA, Resource = "cnvrg.io/metagpu", Namespace = "team-a", Pod = "notebook-0", Container = "notebook" };
    public static AllocationRef TrainerB => new() { Key = KeyB, Resource = "cnvrg.io/metagpu", Namespace = "team-b", Pod = "trainer-7d9f", Container = "train" };
    public static AllocationRef UnnamedC => new() { Key = KeyC, Resource = "cnvrg.io/metagpu" };

    public static Scope AllocationScope => new()
    {
        Kind = ScopeKind.Allocation,
        Reason = "allocation mount of cnvrg.io/metagpu",
        CallerPid = 42,
        Allocations = { NotebookA },
    };

    public static Scope NodeScope => new() { Kind = ScopeKind.Node, Reason = "the daemon's own mount namespace", CallerPid = 7 };

    public static InfoResponse Info(Scope scope) => new()
    {
        Node = "gpu-node-1",
        Version = "0.1.0",
        Scope = scope,
        PodResourcesAvailable = true,
        RefreshedUnixMs = RefreshedUnixMs,
    };

    private static Device A100(int index, string uuid, ulong used, uint util) => new()
    {
        Index = index,
        Uuid = uuid,
        Name = "NVIDIA A100-SXM4-40GB",
        MemoryTotalBytes = 40 * GiB,
        MemoryUsedBytes = used,
        UtilizationPercent = util,
        Splits = { new DeviceSplit { Resource = "cnvrg.io/metagpu", MetaGpus = 10, ShareMemoryBytes = 4 * GiB } },
    };

    public static ListDevicesResponse AllocationDevices()
    {
        var d0 = A100(0, Gpu0, 9 * GiB + 512 * MiB, 37);
        d0.Grants.Add(new DeviceGrant { AllocationKey = KeyA, Resource = "cnvrg.io/metagpu", MetaDevices = 3, SharePercent = 30, MemoryAllowedBytes = 12 * GiB, MemoryUsedBytes = 5 * GiB });
        d0.OthersMemoryUsedBytes = 4 * GiB + 512 * MiB;
        d0.OthersProcesses = 2;
        var d1 = A100(1, Gpu1, 5 * GiB, 12);
        d1.Grants.Add(new DeviceGrant { AllocationKey = KeyA, Resource = "cnvrg.io/metagpu", MetaDevices = 1, SharePercent = 10, MemoryAllowedBytes = 4 * GiB, MemoryUsedBytes = 5 * GiB });
        return new ListDevicesResponse { Scope = AllocationScope, RefreshedUnixMs = RefreshedUnixMs, Devices = { d0, d1 } };
    }

    public static ListDevicesResponse NodeDevices()
    {
        var d1 = A100(1, Gpu1, 5 * GiB, 12);
        d1.Splits.Add(new DeviceSplit { Resource = "example.com/gpu-third", MetaGpus = 3, ShareMemoryBytes = 13653 * MiB });
        var d2 = new Device { Index = 2, Uuid = "GPU-7e57a11d-1111-2222-3333-444455556666", Name = "Tesla T4", MemoryTotalBytes = 15360 * MiB, MemoryUsedBytes = 0 };
        return new ListDevicesResponse { Scope = NodeScope, RefreshedUnixMs = RefreshedUnixMs, Devices = { A100(0, Gpu0, 9 * GiB + 512 * MiB, 37), d1, d2 } };
    }

    private static Process Proc(int pid, string uuid, int gpu, string command, ulong? memory, uint? sm)
    {
        var p = new Process { Pid = pid, GpuUuid = uuid, GpuIndex = gpu, Command = command };
        if (memory is { } m)
            p.MemoryUsedBytes = m;
        if (sm is { } s)
            p.SmPercent = s;
        return p;
    }

    private static Container NotebookContainer(bool hostPids) => new()
    {
        Allocation = NotebookA,
        Request = 4,
        Gpus =
        {
            new ContainerGpu { Uuid = Gpu0, Index = 0, MetaDevices = 3, SharePercent = 30, MemoryAllowedBytes = 12 * GiB, MemoryUsedBytes = 5 * GiB, SmPercent = 35 },
            new ContainerGpu { Uuid = Gpu1, Index = 1, MetaDevices = 1, SharePercent = 10, MemoryAllowedBytes = 4 * GiB, MemoryUsedBytes = 5 * GiB, SmPercent = 12 },
        },
        Processes =
        {
            Proc(hostPids ? 31337 : 118, Gpu0, 0, "python train.py --epochs 10 --data /data/imagenet --batch-size 256 --workers 8 --amp", 4 * GiB + 512 * MiB, 30),
            Proc(hostPids ? 31410 : 0, Gpu0, 0, "python -c 'import torch; torch.zeros(1).cuda()'", 512 * MiB, null),
            Proc(hostPids ? 31502 : 131, Gpu1, 1, "python eval.py", 5 * GiB, 12),
        },
    };

    public static ListContainersResponse AllocationContainers() => new()
    {
        Scope = AllocationScope,
        PodResourcesAvailable = true,
        RefreshedUnixMs = RefreshedUnixMs,
        Containers = { NotebookContainer(hostPids: false) },
    };

    public static ListContainersResponse NodeContainers() => new()
    {
        Scope = NodeScope,
        PodResourcesAvailable = true,
        RefreshedUnixMs = RefreshedUnixMs,
        Containers =
        {
            NotebookContainer(hostPids: true),
            new Container
            {
                Allocation = TrainerB,
                Request = 5,
                Gpus = { new ContainerGpu { Uuid = Gpu0, Index = 0, MetaDevices = 5, SharePercent = 50, MemoryAllowedBytes = 20 * GiB, MemoryUsedBytes = 4 * GiB, SmPercent = 51 } },
                Processes = { Proc(40211, Gpu0, 0, "torchrun --nproc_per_node=1 train.py", 4 * GiB, 51) },
            },
            new Container
            {
                Allocation = UnnamedC,
                Request = 1,
                Gpus = { new ContainerGpu { Uuid = Gpu1, Index = 1, MetaDevices = 1, SharePercent = 33.333333333333336, MemoryAllowedBytes = 13653 * MiB, MemoryUsedBytes = 0 } },
            },
        },
        Unallocated = { Proc(9001, Gpu0, 0, "/opt/tools/gpu-burn 60", 512 * MiB, 2) },
    };

    /// <summary>A daemon that answers as a caller inside team-a's notebook sees it.</summary>
    public static void AsAllocation(StandInControl c)
    {
        c.InfoReply = Info(AllocationScope);
        c.Devices = AllocationDevices();
        c.Containers = AllocationContainers();
    }

    /// <summary>A daemon that answers as the node sees it.</summary>
    public static void AsNode(StandInControl c)
    {
        c.InfoReply = Info(NodeScope);
        c.Devices = NodeDevices();
        c.Containers = NodeContainers();
    }
}
