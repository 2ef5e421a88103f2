using MetaGpu.Control.Identity;
using MetaGpu.Control.V1;
using MetaGpu.DevicePlugin.Allocations;
using MetaGpu.Usage.Workload;

namespace MetaGpu.Control.Service;

/// <summary>
/// The answers of the control API for one caller, built from one <see cref="WorkloadView"/>: a pure function of the
/// view, the caller and two lookups, so that what each scope may see is tested without sockets or containers.
/// Allocation scope sees its own allocations, their processes (pids as it sees them) and the GPUs it was given,
/// with other containers' use of those GPUs as totals only: no name, pid or command of anyone else. Node scope sees
/// everything, host pids.
/// </summary>
/// <param name="readAllocation">The allocation file of a key (for a caller's allocation the view does not list yet).</param>
/// <param name="nsPidsOf">A process's pids by pid namespace (outermost first) if it is still the process that started at the given time; else null.</param>
public sealed class ScopedAnswers(Func<string, AllocationRecord?> readAllocation, Func<int, ulong, int[]?> nsPidsOf)
{
    public static long UnixMs(DateTimeOffset taken) => taken == default ? 0 : taken.ToUnixTimeMilliseconds();

    public Scope ScopeOf(Caller caller, WorkloadView view) => ScopeOf(caller, OwnContainers(caller, view));

    /// <summary>The scope, with the caller's own containers already looked up (they may cost a file read each).</summary>
    private static Scope ScopeOf(Caller caller, List<ContainerUsage> own)
    {
        var scope = new Scope
        {
            Kind = caller.Scope == CallerScope.Node ? ScopeKind.Node : ScopeKind.Allocation,
            Reason = caller.Reason,
            CallerPid = caller.OwnPid,
        };
        foreach (var c in own)
            scope.Allocations.Add(RefOf(c));
        return scope;
    }

    public ListContainersResponse Containers(Caller caller, WorkloadView view)
    {
        var own = OwnContainers(caller, view);
        var answer = new ListContainersResponse
        {
            Scope = ScopeOf(caller, own),
            PodResourcesAvailable = view.PodResourcesAvailable,
            RefreshedUnixMs = UnixMs(view.Taken),
        };
        IReadOnlyList<ContainerUsage> containers = caller.Scope == CallerScope.Node ? view.Containers : own;
        foreach (var c in containers)
        {
            var container = new V1.Container { Allocation = RefOf(c), Request = c.Request };
            foreach (var g in c.Gpus)
            {
                container.Gpus.Add(new V1.ContainerGpu
                {
                    Uuid = g.Uuid, Index = g.Index, MetaDevices = g.MetaDevices, SharePercent = g.SharePercent,
                    MemoryAllowedBytes = g.MemoryAllowedBytes, MemoryUsedBytes = g.MemoryUsedBytes, SmPercent = g.SmPercent,
                });
            }
            foreach (var p in c.Processes)
                container.Processes.Add(ProcessOf(caller, p));
            answer.Containers.Add(container);
        }
        if (caller.Scope == CallerScope.Node)
        {
            foreach (var p in view.Unallocated)
                answer.Unallocated.Add(ProcessOf(caller, p));
        }
        return answer;
    }

    public ListDevicesResponse Devices(Caller caller, WorkloadView view)
    {
        var own = OwnContainers(caller, view);
        var answer = new ListDevicesResponse { Scope = ScopeOf(caller, own), RefreshedUnixMs = UnixMs(view.Taken) };
        foreach (var g in view.Gpus)
        {
            var grants = new List<DeviceGrant>();
            foreach (var c in own)
            {
                foreach (var x in c.Gpus)
                {
                    if (x.Uuid != g.Uuid)
                        continue;
                    grants.Add(new DeviceGrant
                    {
                        AllocationKey = c.AllocationKey, Resource = c.Resource, MetaDevices = x.MetaDevices, SharePercent = x.SharePercent,
                        MemoryAllowedBytes = x.MemoryAllowedBytes, MemoryUsedBytes = x.MemoryUsedBytes,
                    });
                }
            }
            if (caller.Scope == CallerScope.Allocation && grants.Count == 0)
                continue;
            var device = new Device
            {
                Index = g.Index, Uuid = g.Uuid, Name = g.Name, MemoryTotalBytes = g.MemoryTotalBytes, MemoryUsedBytes = g.MemoryUsedBytes,
            };
            if (g.UtilizationPercent is { } u)
                device.UtilizationPercent = u;
            foreach (var s in g.Shares)
                device.Splits.Add(new DeviceSplit { Resource = s.Resource, MetaGpus = s.MetaGpus, ShareMemoryBytes = s.ShareMemoryMiB << 20 });
            device.Grants.AddRange(grants);
            if (caller.Scope == CallerScope.Allocation)
            {
                // Everyone else on this GPU, as totals: other containers' processes and those of no allocation.
                foreach (var c in view.Containers)
                {
                    if (!caller.Holds(c.AllocationKey))
                        CountOthers(device, c.Processes);
                }
                CountOthers(device, view.Unallocated);
            }
            answer.Devices.Add(device);
        }
        return answer;
    }

    /// <summary>
    /// The process <paramref name="pid"/> (as the caller sees it) among those the caller may signal: its own
    /// allocations' processes, or in node scope every GPU process. Null when there is none.
    /// </summary>
    public GpuProcessUsage? FindKillable(Caller caller, WorkloadView view, int pid)
    {
        if (caller.Scope == CallerScope.Node)
        {
            foreach (var c in view.Containers)
            {
                if (IdentifiedWithPid(c.Processes, pid) is { } p)
                    return p;
            }
            return IdentifiedWithPid(view.Unallocated, pid);
        }
        foreach (var c in OwnContainers(caller, view))
        {
            foreach (var p in c.Processes)
            {
                if (p.Identified && caller.PidAsSeen(p.Pid, nsPidsOf(p.Pid, p.StartTicks)) == pid)
                    return p;
            }
        }
        return null;
    }

    /// <summary>The caller's allocations: from the view, else (not listed there yet) from their files, without processes.</summary>
    private List<ContainerUsage> OwnContainers(Caller caller, WorkloadView view)
    {
        var own = new List<ContainerUsage>(caller.AllocationKeys.Count);
        foreach (var key in caller.AllocationKeys)
        {
            var listed = view.ContainerOf(key);
            if (listed is not null)
            {
                own.Add(listed);
                continue;
            }
            if (readAllocation(key) is not { } record)
                continue;
            var gpus = new List<Usage.Workload.ContainerGpu>(record.Gpus.Count);
            foreach (var g in record.Gpus)
                gpus.Add(new Usage.Workload.ContainerGpu(g.Uuid, g.Index, g.MetaDevices, g.MetaGpus, g.MemoryLimitMiB << 20, 0, 0));
            own.Add(new ContainerUsage(key, "", "", "", record.Resource, record.Request, gpus, []));
        }
        return own;
    }

    /// <summary>Adds the processes of <paramref name="processes"/> on the device's GPU to its totals of others' use.</summary>
    private static void CountOthers(Device device, IReadOnlyList<GpuProcessUsage> processes)
    {
        foreach (var p in processes)
        {
            if (p.GpuUuid != device.Uuid)
                continue;
            device.OthersProcesses++;
            device.OthersMemoryUsedBytes += p.MemoryUsedBytes ?? 0;
        }
    }

    private static GpuProcessUsage? IdentifiedWithPid(IReadOnlyList<GpuProcessUsage> processes, int pid)
    {
        foreach (var p in processes)
        {
            if (p.Pid == pid && p.Identified)
                return p;
        }
        return null;
    }

    private static AllocationRef RefOf(ContainerUsage c) =>
        new() { Key = c.AllocationKey, Resource = c.Resource, Namespace = c.Namespace, Pod = c.Pod, Container = c.Container };

    private V1.Process ProcessOf(Caller caller, GpuProcessUsage p)
    {
        var process = new V1.Process
        {
            Pid = caller.Scope == CallerScope.Node ? p.Pid : p.Identified ? caller.PidAsSeen(p.Pid, nsPidsOf(p.Pid, p.StartTicks)) : 0,
            GpuUuid = p.GpuUuid,
            GpuIndex = p.GpuIndex,
            Command = p.CommandLine,
        };
        if (p.MemoryUsedBytes is { } m)
            process.MemoryUsedBytes = m;
        if (p.SmPercent is { } sm)
            process.SmPercent = sm;
        return process;
    }
}
