using System.Globalization;
using MetaGpu.DevicePlugin;
using MetaGpu.DevicePlugin.Allocations;
using MetaGpu.DevicePlugin.Config;
using MetaGpu.Nvml;
using MetaGpu.Tests.Support;
using MetaGpu.Usage.Enforcement;
using MetaGpu.Usage.PodResources;
using MetaGpu.Usage.Proc;
using MetaGpu.Usage.Workload;

namespace MetaGpu.Tests.Usage.Workload;

/// <summary>
/// One refresh of <see cref="WorkloadWatcher"/> over a /proc written by the test (<c>--proc-root</c>), simulated GPUs
/// and real allocation files: what it remembers between refreshes.
/// </summary>
public sealed class WorkloadWatcherTests : IDisposable
{
    private const int Pid = 4242;
    private readonly string _dir = Directory.CreateTempSubdirectory("mg-watch-").FullName;
    private readonly SimulatedBackend _backend = SimulatedBackend.Parse("1");
    private readonly StateDirMount _mount = new(254, 1, "/srv/metagpu/allocations");
    private readonly WorkloadWatcher _watcher;
    private readonly string _key;

    public WorkloadWatcherTests()
    {
        var inventory = _backend.GetInventory();
        var plan = SharePlanBuilder.Build(SharingConfig.Default, inventory);
        var resource = plan.Resources.Single();
        var files = new AllocationFiles(Path.Combine(_dir, "state"));
        var ids = Enumerable.Range(0, 10).Select(i => new MetaDeviceId(0, i, resource.Gpus[0].Uuid).ToString()).ToList();
        _key = AllocationKey.For(resource.ResourceName, ids);
        files.Write(AllocationRecord.Create(resource.ResourceName, ids, AllocationPolicy.Describe(resource, ids)));
        _backend.AddProcess(resource.Gpus[0].Uuid, Pid, 1UL << 30);
        var store = new NodeStateStore(new NodeState(1, SharingConfig.Default, inventory, plan, new GpuHealthSnapshot(1, new Dictionary<string, GpuHealth>())));
        var log = new RecordingLogger();
        _watcher = new WorkloadWatcher(_backend, () => store.Current, new ProcFs(Path.Combine(_dir, "proc")), _mount, files,
            new AllocationSweeper(files, AllocationSweeper.DefaultUnreferencedFor, TimeProvider.System),
            new PodResourcesClient(Path.Combine(_dir, "no-kubelet.sock"), log), new MemoryEnforcer(new PidfdSignaller("/nonexistent"), log),
            () => MemorySettings.Default, log);
    }

    /// <summary>The process's /proc as the kernel would write it: its start time, and its mounts with or without its allocation.</summary>
    private void WriteProc(ulong start, bool withMount)
    {
        var dir = Path.Combine(_dir, "proc", Pid.ToString(CultureInfo.InvariantCulture));
        Directory.CreateDirectory(dir);
        var fields = string.Join(' ', Enumerable.Range(3, 50).Select(f => f == 3 ? "S" : f == 22 ? start.ToString(CultureInfo.InvariantCulture) : "0"));
        File.WriteAllText(Path.Combine(dir, "stat"), $"{Pid} (python) {fields}\n");
        var mounts = "1 0 0:50 / / rw - overlay overlay rw\n";
        if (withMount)
            mounts += $"2 1 254:1 {_mount.AllocationsRoot}/{_key}.json /etc/metagpu/allocation.json ro - ext4 /dev/vda rw\n";
        File.WriteAllText(Path.Combine(dir, "mountinfo"), mounts);
        File.WriteAllText(Path.Combine(dir, "cgroup"), "0::/\n");
        File.WriteAllText(Path.Combine(dir, "cmdline"), "python\0train.py\0");
    }

    [Fact]
    public async Task AProcessKeepsTheAllocationItWasSeenWithUntilItsPidIsReused()
    {
        WriteProc(start: 1000, withMount: true);
        var first = await _watcher.RefreshAsync(CancellationToken.None);
        Assert.Equal([Pid], Assert.Single(first.Containers).Processes.Select(p => p.Pid));
        Assert.Equal("python train.py", first.Containers[0].Processes[0].CommandLine);

        // The same process drops the mount from its own mount table: still the same allocation.
        WriteProc(start: 1000, withMount: false);
        var hidden = await _watcher.RefreshAsync(CancellationToken.None);
        Assert.Equal([Pid], Assert.Single(hidden.Containers).Processes.Select(p => p.Pid));
        Assert.Empty(hidden.Unallocated);

        // Another process with that pid (another start time) and no mount: it is nobody's.
        WriteProc(start: 2000, withMount: false);
        var reused = await _watcher.RefreshAsync(CancellationToken.None);
        Assert.Empty(reused.Containers);
        Assert.Equal([Pid], reused.Unallocated.Select(p => p.Pid));
        Assert.True(reused.Unallocated[0].Identified);
        Assert.False(reused.PodResourcesAvailable);
    }

    /// <summary>
    /// The watcher keeps the allocation records of what is in use, not of everything used since the last sweep: in a
    /// soak with a pod every quarter second the daemon grew by about 1 MB a minute, holding a record per pod of the
    /// last ten minutes (the sweeper's grace period) until their files were swept.
    /// </summary>
    [Fact]
    public async Task AnAllocationNoLongerInUseIsNotKept()
    {
        WriteProc(start: 1000, withMount: true);
        await _watcher.RefreshAsync(CancellationToken.None);
        Assert.Equal(1, _watcher.CachedAllocations);

        WriteProc(start: 2000, withMount: false); // the container's process is gone, the pid another's
        await _watcher.RefreshAsync(CancellationToken.None);
        Assert.Equal(0, _watcher.CachedAllocations);

        // Back in use: read again.
        WriteProc(start: 3000, withMount: true);
        var again = await _watcher.RefreshAsync(CancellationToken.None);
        Assert.Equal(1, _watcher.CachedAllocations);
        Assert.Equal([Pid], Assert.Single(again.Containers).Processes.Select(p => p.Pid));
    }

    [Fact]
    public async Task AProcessWhoseProcCannotBeReadIsUnidentified()
    {
        var view = await _watcher.RefreshAsync(CancellationToken.None);

        var p = Assert.Single(view.Unallocated);
        Assert.Equal((Pid, false), (p.Pid, p.Identified));
    }

    public void Dispose()
    {
        _backend.Dispose();
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
