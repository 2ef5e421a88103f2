using System.Diagnostics;
using MetaGpu.DevicePlugin;
using MetaGpu.DevicePlugin.Config;
using MetaGpu.DevicePlugin.Allocations;
using MetaGpu.Nvml;
using MetaGpu.Primitives;
using MetaGpu.Usage.Enforcement;
using MetaGpu.Usage.PodResources;
using MetaGpu.Usage.Proc;
using Microsoft.Extensions.Logging;

namespace MetaGpu.Usage.Workload;

/// <summary>
/// Rebuilds the <see cref="WorkloadView"/> every interval: NVML's processes, each process's /proc (which allocation
/// it has mounted, its cgroup), the allocation files, and one pod-resources List; then applies memory enforcement and
/// sweeps allocation files no container uses any more. Every source may fail on its own (a GPU that does not answer,
/// a process that exits mid-read, no pod-resources socket): the refresh goes on with what it has and says so once.
/// </summary>
public sealed class WorkloadWatcher(
    IGpuBackend backend,
    Func<NodeState> node,
    ProcFs proc,
    StateDirMount? stateMount,
    AllocationFiles files,
    AllocationSweeper sweeper,
    PodResourcesClient pods,
    MemoryEnforcer enforcer,
    Func<MemorySettings> enforcement,
    ILogger log,
    TimeProvider? time = null)
{
    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private readonly Dictionary<string, AllocationRecord> _records = new(StringComparer.Ordinal);
    private readonly Dictionary<string, ulong> _utilizationSeen = new(StringComparer.Ordinal);
    private readonly HashSet<string> _reported = new(StringComparer.Ordinal);
    private readonly Dictionary<(int Pid, ulong StartTicks), ProcessIdentity> _known = [];
    private DateTimeOffset _lastSweep = DateTimeOffset.MinValue;

    /// <summary>The sweep lists the allocations directory: twice a minute is plenty for a 10-minute rule.</summary>
    public static readonly TimeSpan SweepInterval = TimeSpan.FromSeconds(30);

    public VersionedSnapshot<WorkloadView> View { get; } = new(WorkloadView.Empty);

    /// <summary>How long the last refresh took (its reads, the build, enforcement and the sweep).</summary>
    public TimeSpan LastRefreshCost { get; private set; }

    /// <summary>Allocation records held between refreshes (tests).</summary>
    internal int CachedAllocations => _records.Count;

    public async Task RunAsync(TimeSpan interval, CancellationToken stop)
    {
        using var timer = new PeriodicTimer(interval, _time);
        do
        {
            try
            {
                await RefreshAsync(stop).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                // A refresh must never end the loop: the next one starts from scratch.
                Once("refresh:" + e.GetType().Name, () => log.LogError(e, "usage refresh failed; the next one runs as usual"));
            }
        }
        while (await WaitAsync(timer, stop).ConfigureAwait(false));
    }

    private static async Task<bool> WaitAsync(PeriodicTimer timer, CancellationToken stop)
    {
        try
        {
            return await timer.WaitForNextTickAsync(stop).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    /// <summary>One refresh; publishes and returns the new view.</summary>
    public async Task<WorkloadView> RefreshAsync(CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        var state = node();
        GpuInventory inventory;
        try
        {
            inventory = backend.GetInventory();
        }
        catch (GpuBackendException e)
        {
            Once("inventory", () => log.LogWarning("usage: cannot read the GPUs ({Error}); memory figures are from start-up until it recovers", e.Message));
            inventory = state.Inventory;
        }

        var processes = new Dictionary<string, IReadOnlyList<GpuProcess>>(StringComparer.Ordinal);
        var utilization = new Dictionary<string, IReadOnlyList<ProcessUtilizationSample>>(StringComparer.Ordinal);
        foreach (var gpu in inventory.Gpus)
        {
            try
            {
                processes[gpu.Uuid] = backend.GetProcesses(gpu.Uuid);
            }
            catch (GpuBackendException e)
            {
                Once("processes:" + gpu.Uuid, () => log.LogWarning("usage: cannot list the processes of GPU {Index} ({Uuid}): {Error}", gpu.Index, gpu.Uuid, e.Message));
                processes[gpu.Uuid] = [];
            }
            try
            {
                var samples = backend.GetProcessUtilization(gpu.Uuid, _utilizationSeen.GetValueOrDefault(gpu.Uuid));
                utilization[gpu.Uuid] = samples;
                if (samples.Count > 0)
                    _utilizationSeen[gpu.Uuid] = Newest(samples);
            }
            catch (GpuBackendException)
            {
                utilization[gpu.Uuid] = []; // optional: many GPUs do not sample per process
            }
        }

        var identities = new Dictionary<int, ProcessIdentity?>();
        foreach (var onGpu in processes.Values)
        {
            foreach (var p in onGpu)
            {
                var pid = (int)p.Pid;
                if (!identities.ContainsKey(pid))
                    identities[pid] = stateMount is null ? null : Identify(pid, stateMount);
            }
        }
        // A dictionary's entries may be removed while it is enumerated (since .NET Core 3.0).
        foreach (var seen in _known.Keys)
        {
            if (!identities.ContainsKey(seen.Pid))
                _known.Remove(seen);
        }

        var snapshot = await pods.ListAsync(cancellationToken).ConfigureAwait(false);

        // The allocations in play: those a listed container holds (for a resource we serve), and those mounted by a process.
        var served = new HashSet<string>(StringComparer.Ordinal);
        foreach (var r in state.Plan.Resources)
            served.Add(r.ResourceName);
        var keys = new HashSet<string>(StringComparer.Ordinal);
        foreach (var c in snapshot.Containers)
        {
            foreach (var d in c.Devices)
            {
                if (served.Contains(d.Resource))
                    keys.Add(AllocationKey.For(d.Resource, d.DeviceIds));
            }
        }
        foreach (var identity in identities.Values)
        {
            if (identity is not null)
                keys.UnionWith(identity.AllocationKeys);
        }
        var allocations = new Dictionary<string, AllocationRecord>(StringComparer.Ordinal);
        foreach (var key in keys)
        {
            // A key names its IDs, so a file's content never changes: read each once.
            if (!_records.TryGetValue(key, out var record) && (record = files.TryRead(key)) is not null)
                _records[key] = record;
            if (record is not null)
                allocations[key] = record;
        }
        // Only what is in use stays: a key that comes back is one file read. Kept until the sweep instead, the
        // records of every pod of the sweeper's grace period (ten minutes) would stay in memory.
        // (A dictionary's entries may be removed while it is enumerated.)
        foreach (var key in _records.Keys)
        {
            if (!allocations.ContainsKey(key))
                _records.Remove(key);
        }

        var view = View.Publish(WorkloadBuilder.Build(new WorkloadInputs(
            _time.GetUtcNow(), inventory, state.Plan, processes, utilization, identities, allocations, snapshot)));

        enforcer.Apply(view, enforcement());

        // Files are swept only on a fresh, complete answer from the kubelet: without one nobody can tell what is unused.
        if (snapshot.Available && snapshot.Fresh && _time.GetUtcNow() - _lastSweep >= SweepInterval)
        {
            _lastSweep = _time.GetUtcNow();
            foreach (var removed in sweeper.Sweep(keys)) // unused keys, no longer in _records
            {
                log.LogInformation("removed allocation file {Key}.json: no container has used it for {Period}", removed, sweeper.UnreferencedFor);
            }
        }
        LastRefreshCost = Stopwatch.GetElapsedTime(started);
        return view;
    }

    /// <summary>
    /// Who a process is: read in full (mounts, cgroup, command line) the first time it is seen, then only its start
    /// time each refresh. A process's mounts and cgroup are set when its container is made and it cannot gain another
    /// allocation's without host privileges, so the first reading stands for as long as the process lives (the same
    /// pid and start time, checked in every refresh). That also keeps a process attributed that later drops the
    /// mount from its own mount table (a user namespace and a chroot), and it makes a refresh one small read per process.
    /// </summary>
    private ProcessIdentity? Identify(int pid, StateDirMount mount)
    {
        if (proc.StartTime(pid) is not { } start)
            return null;
        if (_known.TryGetValue((pid, start), out var known))
            return known;
        var identity = proc.ReadIdentity(pid, mount);
        if (identity is not null)
            _known[(identity.Pid, identity.StartTicks)] = identity;
        return identity;
    }

    private static ulong Newest(IReadOnlyList<ProcessUtilizationSample> samples)
    {
        var newest = samples[0].TimestampMicroseconds;
        foreach (var s in samples)
            newest = Math.Max(newest, s.TimestampMicroseconds);
        return newest;
    }

    private void Once(string what, Action write)
    {
        if (_reported.Add(what))
            write();
    }
}
