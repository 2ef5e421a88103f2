using MetaGpu.Control.Identity;
using MetaGpu.Control.Service;
using MetaGpu.Control.V1;
using MetaGpu.Rpc.Grpc;
using MetaGpu.Tests.Usage.Workload;
using static MetaGpu.Tests.Usage.Workload.WorkloadScenario;

namespace MetaGpu.Tests.Control.Service;

/// <summary>What each scope sees of one workload view: pods A and B share GPU 0, C is on GPU 1, pid 900 has no allocation.</summary>
public sealed class ScopedAnswersTests
{
    private readonly WorkloadScenario _s = new();

    public ScopedAnswersTests()
    {
        _s.Run(101, Gpu0, 1 * GiB, _s.A.Key).Run(102, Gpu0, 2 * GiB, _s.A.Key).Run(201, Gpu0, 3 * GiB, _s.B.Key)
          .Run(301, Gpu1, 4 * GiB, _s.C.Key).Run(900, Gpu0, GiB / 2);
    }

    // Each process sits in a pid namespace of its own container, one level below the node: pid 101 is 1 there.
    private static int[]? NsPids(int pid, ulong started) => started == 1000UL + (ulong)pid ? [pid, pid % 100] : null;

    private static ScopedAnswers Answers(Func<string, MetaGpu.DevicePlugin.Allocations.AllocationRecord?>? read = null) =>
        new(read ?? (_ => null), NsPids);

    private static Caller InAllocation(params string[] keys) =>
        new(CallerScope.Allocation, "test", 101, 1101, [101, 1], keys, new UnixPeer(101, 1000, 1000));

    private static Caller OfNode() => new(CallerScope.Node, "test", 1, 1, [1], [], new UnixPeer(1, 0, 0));

    [Fact]
    public void AnAllocationSeesItsOwnContainerAndProcessesOnlyWithPidsAsItSeesThem()
    {
        var answer = Answers().Containers(InAllocation(_s.A.Key), _s.Build());

        var container = Assert.Single(answer.Containers);
        Assert.Equal(_s.A.Key, container.Allocation.Key);
        Assert.Equal(("team-a", "notebook-a", "main"), (container.Allocation.Namespace, container.Allocation.Pod, container.Allocation.Container));
        Assert.Equal([1, 2], container.Processes.Select(p => p.Pid).Order());
        Assert.Empty(answer.Unallocated);
        Assert.Equal(ScopeKind.Allocation, answer.Scope.Kind);
        Assert.Equal(1, answer.Scope.CallerPid);
        // Nothing of B, C or the stray process, in any field.
        var text = answer.ToString();
        foreach (var foreign in new[] { "train-b", "serve-c", "team-b", "201", "301", "900", _s.B.Key, _s.C.Key })
            Assert.DoesNotContain(foreign, text, StringComparison.Ordinal);
    }

    [Fact]
    public void AnAllocationSeesItsGpuWithTheOthersAsTotalsOnly()
    {
        var answer = Answers().Devices(InAllocation(_s.A.Key), _s.Build());

        var device = Assert.Single(answer.Devices);
        Assert.Equal(Gpu0, device.Uuid);
        var grant = Assert.Single(device.Grants);
        Assert.Equal((30, 30.0, 3 * GiB), (grant.MetaDevices, grant.SharePercent, grant.MemoryUsedBytes));
        Assert.Equal(2, device.OthersProcesses);
        Assert.Equal(3 * GiB + GiB / 2, device.OthersMemoryUsedBytes);
        Assert.Equal(16 * GiB, device.MemoryTotalBytes);
        Assert.DoesNotContain(_s.B.Key, answer.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void TheNodeSeesEverythingWithHostPids()
    {
        var view = _s.Build();
        var containers = Answers().Containers(OfNode(), view);
        var devices = Answers().Devices(OfNode(), view);

        Assert.Equal(3, containers.Containers.Count);
        Assert.Equal([101, 102, 201, 301], containers.Containers.SelectMany(c => c.Processes).Select(p => p.Pid).Order());
        Assert.Equal(900, Assert.Single(containers.Unallocated).Pid);
        Assert.Equal(2, devices.Devices.Count);
        Assert.All(devices.Devices, d => Assert.Empty(d.Grants));
        Assert.Equal(ScopeKind.Node, containers.Scope.Kind);
    }

    [Fact]
    public void AnAllocationMayKillOnlyItsOwnProcessesByTheirPidsInItsNamespace()
    {
        var view = _s.Build();
        var caller = InAllocation(_s.A.Key);

        Assert.Equal(102, Answers().FindKillable(caller, view, 2)?.Pid);
        Assert.Null(Answers().FindKillable(caller, view, 102)); // the host pid means nothing in its namespace
        Assert.Equal(101, Answers().FindKillable(caller, view, 1)?.Pid);
        Assert.Null(Answers().FindKillable(InAllocation(_s.B.Key), view, 2));
        Assert.Equal(201, Answers().FindKillable(OfNode(), view, 201)?.Pid);
        Assert.Equal(900, Answers().FindKillable(OfNode(), view, 900)?.Pid);
        Assert.Null(Answers().FindKillable(OfNode(), view, 4242));
    }

    /// <summary>A process whose pid was reused since the refresh (start time differs) is shown without a pid and cannot be killed by it.</summary>
    [Fact]
    public void AProcessReplacedSinceTheRefreshHasNoPidForTheCaller()
    {
        var view = _s.Build();
        var answers = new ScopedAnswers(_ => null, (pid, started) => pid == 102 ? null : NsPids(pid, started));

        var processes = answers.Containers(InAllocation(_s.A.Key), view).Containers.Single().Processes;
        Assert.Equal([0, 1], processes.Select(p => p.Pid).Order());
        Assert.Null(answers.FindKillable(InAllocation(_s.A.Key), view, 2));
    }

    [Fact]
    public void AnAllocationTheViewDoesNotListYetComesFromItsFile()
    {
        var empty = MetaGpu.Usage.Workload.WorkloadView.Empty;
        var answers = Answers(key => key == _s.C.Key ? _s.C : null);

        var answer = answers.Containers(InAllocation(_s.C.Key, "0000000000000000000000000000000000000000"), empty);

        var container = Assert.Single(answer.Containers);
        Assert.Equal((_s.C.Key, Resource, 50), (container.Allocation.Key, container.Allocation.Resource, container.Request));
        Assert.Equal(Gpu1, Assert.Single(container.Gpus).Uuid);
        Assert.Empty(container.Processes);
    }
}
