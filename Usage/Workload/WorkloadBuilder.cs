using MetaGpu.DevicePlugin;
using MetaGpu.DevicePlugin.Allocations;
using MetaGpu.Nvml;
using MetaGpu.Usage.PodResources;
using MetaGpu.Usage.Proc;

namespace MetaGpu.Usage.Workload;

/// <summary>Everything one refresh read, at the edges (NVML, /proc, the allocation files, pod-resources).</summary>
public sealed record WorkloadInputs(
    DateTimeOffset Taken,
    GpuInventory Inventory,
    SharePlan Plan,
    IReadOnlyDictionary<string, IReadOnlyList<GpuProcess>> Processes,
    IReadOnlyDictionary<string, IReadOnlyList<ProcessUtilizationSample>> Utilization,
    IReadOnlyDictionary<int, ProcessIdentity?> Identities,
    IReadOnlyDictionary<string, AllocationRecord> Allocations,
    PodResourcesSnapshot Pods);

/// <summary>
/// Builds the <see cref="WorkloadView"/> from one refresh's inputs: a pure function, so every attribution rule is
/// tested without a GPU, a kubelet or a container.
/// </summary>
public static class WorkloadBuilder
{
    public static WorkloadView Build(WorkloadInputs inputs)
    {
        // Which container holds an allocation: pod-resources lists its device IDs per resource, and the key of those
        // IDs names the allocation file, so no table is kept.
        var owners = new Dictionary<string, PodContainer>(StringComparer.Ordinal);
        foreach (var container in inputs.Pods.Containers)
        {
            foreach (var devices in container.Devices)
                owners.TryAdd(AllocationKey.For(devices.Resource, devices.DeviceIds), container);
        }

        var identities = WithContainerKeys(inputs.Identities);
        var processes = new List<GpuProcessUsage>();
        foreach (var gpu in inputs.Inventory.Gpus)
        {
            if (!inputs.Processes.TryGetValue(gpu.Uuid, out var onGpu))
                continue;
            var sm = LatestSmPercent(inputs.Utilization.GetValueOrDefault(gpu.Uuid));
            foreach (var p in onGpu)
            {
                var pid = (int)p.Pid;
                var identity = identities.GetValueOrDefault(pid);
                processes.Add(new GpuProcessUsage(
                    pid, gpu.Uuid, gpu.Index, identity?.CommandLine ?? "", p.UsedMemoryBytes,
                    sm.TryGetValue(p.Pid, out var percent) ? percent : null,
                    identity?.Cgroup.ContainerId, identity?.Cgroup.PodUid, identity?.StartTicks ?? 0,
                    identity is null ? null : AllocationOf(identity, gpu.Uuid, inputs.Allocations),
                    identity is not null));
            }
        }

        // Allocations worth showing: those a listed container holds, and those a running process has mounted.
        var keys = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var key in owners.Keys)
        {
            if (inputs.Allocations.ContainsKey(key))
                keys.Add(key);
        }
        foreach (var p in processes)
        {
            if (p.AllocationKey is { } key)
                keys.Add(key);
        }

        var containers = new List<ContainerUsage>(keys.Count);
        var byAllocation = new Dictionary<string, List<GpuProcessUsage>>(StringComparer.Ordinal);
        var unattributed = new List<GpuProcessUsage>();
        foreach (var p in processes)
        {
            if (p.AllocationKey is null)
                unattributed.Add(p);
            else if (byAllocation.TryGetValue(p.AllocationKey, out var list))
                list.Add(p);
            else
                byAllocation[p.AllocationKey] = [p];
        }
        foreach (var key in keys)
        {
            var record = inputs.Allocations[key];
            var mine = byAllocation.GetValueOrDefault(key) ?? [];
            var gpus = new List<ContainerGpu>(record.Gpus.Count);
            foreach (var g in record.Gpus)
            {
                var (memory, sm) = UseOn(mine, g.Uuid, index: null);
                gpus.Add(new ContainerGpu(g.Uuid, g.Index, g.MetaDevices, g.MetaGpus, g.MemoryLimitMiB << 20, memory, sm));
            }
            // A process of this allocation on a GPU the allocation does not include: allowed nothing there.
            foreach (var stray in StrayGpus(mine, record))
            {
                var (memory, sm) = UseOn(mine, stray.GpuUuid, stray.GpuIndex);
                gpus.Add(new ContainerGpu(stray.GpuUuid, stray.GpuIndex, 0, 0, 0, memory, sm));
            }
            owners.TryGetValue(key, out var owner);
            containers.Add(new ContainerUsage(key, owner?.Namespace ?? "", owner?.Pod ?? "", owner?.Container ?? "",
                record.Resource, record.Request, gpus, mine));
        }

        var gpuUsage = new List<GpuUsage>(inputs.Inventory.Gpus.Count);
        foreach (var g in inputs.Inventory.Gpus)
        {
            var splits = new List<ResourceSplit>();
            foreach (var r in inputs.Plan.Resources)
            {
                if (r.FindGpu(g.Uuid) is { } planned)
                    splits.Add(new ResourceSplit(r.ResourceName, planned.MetaGpus, planned.ShareMemoryMiB));
            }
            gpuUsage.Add(new GpuUsage(
                g.Index, g.Uuid, g.Name, g.MemoryTotalBytes, g.MemoryUsedBytes, g.MemoryFreeBytes, g.UtilizationGpuPercent, splits));
        }

        return new WorkloadView(0, inputs.Taken, gpuUsage, containers, unattributed, inputs.Pods.Available);
    }

    /// <summary>
    /// What <paramref name="processes"/> use on the GPU <paramref name="uuid"/> (and <paramref name="index"/>, when
    /// given): memory summed, SM % summed and capped at 100.
    /// </summary>
    private static (ulong MemoryBytes, uint SmPercent) UseOn(List<GpuProcessUsage> processes, string uuid, int? index)
    {
        ulong memory = 0;
        long sm = 0;
        foreach (var p in processes)
        {
            if (p.GpuUuid != uuid || (index is { } i && p.GpuIndex != i))
                continue;
            memory += p.MemoryUsedBytes ?? 0;
            sm += p.SmPercent ?? 0;
        }
        return (memory, (uint)Math.Min(100, sm));
    }

    /// <summary>The first process on each GPU (UUID and index) that <paramref name="record"/> does not include, in order.</summary>
    private static List<GpuProcessUsage> StrayGpus(List<GpuProcessUsage> processes, AllocationRecord record)
    {
        var firsts = new List<GpuProcessUsage>();
        foreach (var p in processes)
        {
            if (!Includes(record, p.GpuUuid) && !firsts.Exists(f => f.GpuUuid == p.GpuUuid && f.GpuIndex == p.GpuIndex))
                firsts.Add(p);
        }
        return firsts;
    }

    private static bool Includes(AllocationRecord record, string uuid)
    {
        foreach (var g in record.Gpus)
        {
            if (g.Uuid == uuid)
                return true;
        }
        return false;
    }

    /// <summary>
    /// A process can drop its allocation mount from its own mount table (a user and mount namespace of its own, then a
    /// chroot: the kernel lists only mounts under a process's root). It cannot leave its container's cgroup without
    /// host privileges, so a process whose mounts name no allocation takes the keys of a process of the same container
    /// (the same container ID in its cgroup) whose mounts do. A container all of whose GPU processes hide stays
    /// unattributed (shown as belonging to no allocation, with its pod UID from the cgroup) and is never signalled.
    /// </summary>
    private static IReadOnlyDictionary<int, ProcessIdentity?> WithContainerKeys(IReadOnlyDictionary<int, ProcessIdentity?> identities)
    {
        Dictionary<string, IReadOnlyList<string>>? byContainer = null;
        foreach (var identity in identities.Values)
        {
            if (identity is { AllocationKeys.Count: > 0, Cgroup.ContainerId: { } id })
                (byContainer ??= new(StringComparer.Ordinal)).TryAdd(id, identity.AllocationKeys);
        }
        if (byContainer is null)
            return identities;
        var result = new Dictionary<int, ProcessIdentity?>(identities.Count);
        foreach (var (pid, identity) in identities)
        {
            result[pid] = identity is { AllocationKeys.Count: 0, Cgroup.ContainerId: { } id } && byContainer.TryGetValue(id, out var keys)
                ? identity with { AllocationKeys = keys }
                : identity;
        }
        return result;
    }

    /// <summary>
    /// The allocation a process's use of one GPU counts against: of the allocations it has mounted (one per resource)
    /// the one that includes this GPU, else its first (then it uses a GPU it was not given, and is allowed nothing there).
    /// Mounts naming no allocation file we have (stale, or unreadable) do not count.
    /// </summary>
    private static string? AllocationOf(ProcessIdentity identity, string uuid, IReadOnlyDictionary<string, AllocationRecord> allocations)
    {
        string? first = null;
        foreach (var key in identity.AllocationKeys)
        {
            if (!allocations.TryGetValue(key, out var record))
                continue;
            if (Includes(record, uuid))
                return key;
            first ??= key;
        }
        return first;
    }

    /// <summary>pid → SM % from the newest sample of each process.</summary>
    private static Dictionary<uint, uint> LatestSmPercent(IReadOnlyList<ProcessUtilizationSample>? samples)
    {
        var newest = new Dictionary<uint, ProcessUtilizationSample>();
        foreach (var s in samples ?? [])
        {
            if (!newest.TryGetValue(s.Pid, out var seen) || s.TimestampMicroseconds > seen.TimestampMicroseconds)
                newest[s.Pid] = s;
        }
        var percent = new Dictionary<uint, uint>(newest.Count);
        foreach (var (pid, sample) in newest)
            percent[pid] = sample.SmPercent;
        return percent;
    }
}
