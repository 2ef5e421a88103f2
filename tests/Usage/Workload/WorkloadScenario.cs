using MetaGpu.DevicePlugin;
using MetaGpu.DevicePlugin.Allocations;
using MetaGpu.Nvml;
using MetaGpu.Usage.PodResources;
using MetaGpu.Usage.Proc;
using MetaGpu.Usage.Workload;

namespace MetaGpu.Tests.Usage.Workload;

/// <summary>
/// A node for the workload view's pure tests: two 16 GiB GPUs split 100 ways as cnvrg.io/metagpu; pods A (30 on
/// GPU 0), B (40 on GPU 0) and C (50 on GPU 1), each with processes; plus a process of no allocation, one whose /proc
/// could not be read, and one that mounts a look-alike of B's file (so it names no allocation we have).
/// </summary>
public sealed class WorkloadScenario
{
    public const string Resource = "cnvrg.io/metagpu";
    public const ulong GiB = 1UL << 30;
    public static readonly string Gpu0 = "GPU-00000000-0000-0000-0000-000000000000";
    public static readonly string Gpu1 = "GPU-11111111-1111-1111-1111-111111111111";

    public SharePlan Plan { get; }
    public GpuInventory Inventory { get; }
    public AllocationRecord A { get; }
    public AllocationRecord B { get; }
    public AllocationRecord C { get; }
    public Dictionary<string, List<GpuProcess>> Processes { get; } = new() { [Gpu0] = [], [Gpu1] = [] };
    public Dictionary<string, List<ProcessUtilizationSample>> Utilization { get; } = new() { [Gpu0] = [], [Gpu1] = [] };
    public Dictionary<int, ProcessIdentity?> Identities { get; } = [];
    public List<PodContainer> Pods { get; } = [];
    public bool PodResourcesAvailable { get; set; } = true;

    public WorkloadScenario()
    {
        var gpus = new[] { new PlannedGpu(Gpu0, 0, 100, null, 16 * GiB), new PlannedGpu(Gpu1, 1, 100, null, 16 * GiB) };
        var plan = new ResourcePlan(Resource, gpus);
        Plan = new SharePlan([plan], []);
        Inventory = new GpuInventory("550.54.15", "12.4", gpus.Select(g => new GpuInfo
        {
            Index = g.Index, Uuid = g.Uuid, Name = "NVIDIA A16", MemoryTotalBytes = g.MemoryBytes, MemoryUsedBytes = 3 * GiB,
            MemoryFreeBytes = g.MemoryBytes - 3 * GiB, PciBusId = $"00000000:0{g.Index}:00.0", MinorNumber = (uint)g.Index, UtilizationGpuPercent = 40,
        }).ToList());
        A = Allocate(plan, gpus[0], 0, 30);
        B = Allocate(plan, gpus[0], 30, 40);
        C = Allocate(plan, gpus[1], 0, 50);
        Pods.Add(Pod("team-a", "notebook-a", "main", A));
        Pods.Add(Pod("team-b", "train-b", "worker", B));
        Pods.Add(Pod("team-c", "serve-c", "server", C));
    }

    private static AllocationRecord Allocate(ResourcePlan plan, PlannedGpu gpu, int first, int count)
    {
        var ids = Enumerable.Range(first, count).Select(i => new MetaDeviceId(gpu.Index, i, gpu.Uuid).ToString()).ToList();
        return AllocationRecord.Create(Resource, ids, AllocationPolicy.Describe(plan, ids));
    }

    public static PodContainer Pod(string ns, string pod, string container, AllocationRecord record) =>
        new(ns, pod, container, [new PodDevices(record.Resource, record.DeviceIds)]);

    /// <summary>A process on <paramref name="gpu"/> using <paramref name="memory"/>, whose /proc shows <paramref name="keys"/> mounted.</summary>
    public WorkloadScenario Run(int pid, string gpu, ulong? memory, params string[] keys)
    {
        Processes[gpu].Add(new GpuProcess((uint)pid, memory, GpuProcessKind.Compute));
        Identities[pid] = new ProcessIdentity(pid, 1000UL + (ulong)pid, keys, new CgroupIdentity("c" + pid, "pod-" + pid), "python train.py --pid " + pid);
        return this;
    }

    /// <summary>A process NVML lists but whose /proc could not be read in this refresh.</summary>
    public WorkloadScenario RunUnreadable(int pid, string gpu, ulong memory)
    {
        Processes[gpu].Add(new GpuProcess((uint)pid, memory, GpuProcessKind.Compute));
        Identities[pid] = null;
        return this;
    }

    public WorkloadView Build(DateTimeOffset? at = null) => WorkloadBuilder.Build(new WorkloadInputs(
        at ?? DateTimeOffset.UnixEpoch, Inventory, Plan,
        Processes.ToDictionary(kv => kv.Key, kv => (IReadOnlyList<GpuProcess>)kv.Value),
        Utilization.ToDictionary(kv => kv.Key, kv => (IReadOnlyList<ProcessUtilizationSample>)kv.Value),
        Identities,
        new[] { A, B, C }.ToDictionary(r => r.Key),
        new PodResourcesSnapshot(PodResourcesAvailable, PodResourcesAvailable, PodResourcesAvailable ? Pods : [])));
}
