using MetaGpu.DevicePlugin.Config;
using MetaGpu.Tests.Support;
using MetaGpu.Usage.Enforcement;
using Microsoft.Extensions.Logging;
using static MetaGpu.Tests.Usage.Workload.WorkloadScenario;

namespace MetaGpu.Tests.Usage.Workload;

/// <summary>Memory enforcement's decisions: who is reported, who is killed, when, and who never is.</summary>
public sealed class MemoryEnforcerTests
{
    private sealed class RecordingSignaller : IProcessSignaller
    {
        public List<int> Signalled { get; } = [];
        public Dictionary<int, KillOutcome> Outcomes { get; } = [];

        public KillOutcome Kill(int pid, ulong startTicks, out string detail)
        {
            Assert.Equal(1000UL + (ulong)pid, startTicks); // the measured process's start time is passed on
            Signalled.Add(pid);
            detail = "test";
            return Outcomes.GetValueOrDefault(pid, KillOutcome.Killed);
        }
    }

    private readonly RecordingSignaller _signals = new();
    private readonly RecordingLogger _log = new();
    private readonly ManualTime _time = new();
    private static readonly MemorySettings Report = new(EnforcementMode.Report, TimeSpan.Zero);
    private static readonly MemorySettings Kill = new(EnforcementMode.Kill, TimeSpan.Zero);

    private MemoryEnforcer Enforcer() => new(_signals, _log, _time);

    /// <summary>B is allowed 40% of 16 GiB = 6553 MiB on GPU 0; 201 and 202 take 8 GiB together, A's 101 takes 4 GiB.</summary>
    private static WorkloadScenario BOverItsLimit()
    {
        var s = new WorkloadScenario();
        return s.Run(101, Gpu0, 4 * GiB, s.A.Key).Run(201, Gpu0, 5 * GiB, s.B.Key).Run(202, Gpu0, 3 * GiB, s.B.Key).Run(301, Gpu1, 7 * GiB, s.C.Key);
    }

    [Fact]
    public void ReportModeWarnsOncePerEpisodeAndSignalsNobody()
    {
        var e = Enforcer();
        var s = BOverItsLimit();

        e.Apply(s.Build(), Report);
        e.Apply(s.Build(), Report);

        Assert.Empty(_signals.Signalled);
        var warning = Assert.Single(_log.At(LogLevel.Warning));
        Assert.Contains("team-b/train-b container worker", warning);
        Assert.Contains("uses 8192 MiB on GPU 0", warning);
        Assert.Contains("allowed 6553 MiB", warning);
        Assert.Contains("pid 201 (python train.py --pid 201) 5120 MiB", warning);
        Assert.Equal(1, e.Counters[EnforcementCounters.Reported]);
        Assert.Equal(0, e.Counters[EnforcementCounters.Killed]);
    }

    [Fact]
    public void KillModeKillsTheLargestProcessOfThatAllocationUntilItFitsAndLeavesTheNeighboursAlone()
    {
        var killed = Enforcer().Apply(BOverItsLimit().Build(), Kill);

        // 8 GiB - 5 GiB = 3 GiB fits in 6553 MiB: one kill is enough, and A (4 GiB of its 4915 MiB) and C are untouched.
        Assert.Equal([201], _signals.Signalled);
        Assert.Equal([201], killed.Select(p => p.Pid));
        Assert.Contains(_log.At(LogLevel.Warning), l => l.StartsWith("killed pid 201 (python train.py --pid 201) of team-b/train-b container worker", StringComparison.Ordinal));
    }

    [Fact]
    public void KillModeGoesOnToTheNextLargestWhileStillOver()
    {
        var s = new WorkloadScenario();
        s.Run(201, Gpu0, 4 * GiB, s.B.Key).Run(202, Gpu0, 3 * GiB, s.B.Key).Run(203, Gpu0, 2 * GiB, s.B.Key);

        Enforcer().Apply(s.Build(), Kill);

        // 9 GiB: without 201, 5 GiB fits.
        Assert.Equal([201], _signals.Signalled);

        var t = new WorkloadScenario();
        t.Run(201, Gpu0, 4 * GiB, t.B.Key).Run(202, Gpu0, 4 * GiB, t.B.Key).Run(203, Gpu0, 3 * GiB, t.B.Key);
        _signals.Signalled.Clear();
        Enforcer().Apply(t.Build(), Kill);
        // 11 GiB: 7 GiB after one kill is still over 6553 MiB, 3 GiB after two is not.
        Assert.Equal([201, 202], _signals.Signalled);
    }

    [Fact]
    public void TheGracePeriodDelaysTheKillButNotTheReport()
    {
        var e = Enforcer();
        var s = BOverItsLimit();
        var graceful = new MemorySettings(EnforcementMode.Kill, TimeSpan.FromSeconds(10));

        e.Apply(s.Build(), graceful);
        _time.Advance(TimeSpan.FromSeconds(9));
        e.Apply(s.Build(), graceful);
        Assert.Empty(_signals.Signalled);
        Assert.Equal(1, e.Counters[EnforcementCounters.Reported]);

        _time.Advance(TimeSpan.FromSeconds(1));
        e.Apply(s.Build(), graceful);
        Assert.Equal([201], _signals.Signalled);
    }

    [Fact]
    public void AnEpisodeThatEndsIsLoggedAndTheGraceStartsAgain()
    {
        var e = Enforcer();
        var graceful = new MemorySettings(EnforcementMode.Kill, TimeSpan.FromSeconds(10));
        e.Apply(BOverItsLimit().Build(), graceful);
        var under = new WorkloadScenario();
        under.Run(201, Gpu0, GiB, under.B.Key);
        _time.Advance(TimeSpan.FromSeconds(5));
        e.Apply(under.Build(), graceful);
        Assert.Contains(_log.At(LogLevel.Information), l => l.StartsWith("GPU memory back within the limit: team-b/train-b", StringComparison.Ordinal));

        _time.Advance(TimeSpan.FromSeconds(6)); // 11 s after the first episode began, but the second has just begun
        e.Apply(BOverItsLimit().Build(), graceful);
        Assert.Empty(_signals.Signalled);
        Assert.Equal(2, e.Counters[EnforcementCounters.Reported]);
    }

    [Fact]
    public void ProcessesOutsideAnyAllocationOrUnidentifiedAreNeverSignalled()
    {
        var s = new WorkloadScenario();
        // B's own process is within its limit; a host process and an unreadable one hold 10 GiB on the same GPU.
        s.Run(201, Gpu0, GiB, s.B.Key).Run(900, Gpu0, 10 * GiB).RunUnreadable(901, Gpu0, 10 * GiB);

        Enforcer().Apply(s.Build(), Kill);

        Assert.Empty(_signals.Signalled);
        Assert.Empty(_log.At(LogLevel.Warning));
    }

    [Fact]
    public void AnUnidentifiedProcessOfAnOverLimitGpuIsNotACandidate()
    {
        var s = new WorkloadScenario();
        // Over only through 201; 901 cannot be read this refresh, so it is not even counted as B's.
        s.Run(201, Gpu0, 7 * GiB, s.B.Key).RunUnreadable(901, Gpu0, 10 * GiB);

        Enforcer().Apply(s.Build(), Kill);

        Assert.Equal([201], _signals.Signalled);
    }

    [Fact]
    public void AReusedPidIsSkippedAndTheNextCandidateTried()
    {
        _signals.Outcomes[201] = KillOutcome.Reused;
        var e = Enforcer();

        e.Apply(BOverItsLimit().Build(), Kill);

        Assert.Equal([201, 202], _signals.Signalled);
        Assert.Equal(1, e.Counters[EnforcementCounters.Skipped]);
        Assert.Equal(1, e.Counters[EnforcementCounters.Killed]);
    }

    [Fact]
    public void AProcessKilledAlreadyIsNotKilledAgainWhileItExits()
    {
        var e = Enforcer();
        var s = BOverItsLimit();

        e.Apply(s.Build(), Kill);
        _time.Advance(TimeSpan.FromSeconds(1));
        e.Apply(s.Build(), Kill); // NVML still lists 201 while its memory is freed

        Assert.Equal([201], _signals.Signalled);
        Assert.Equal(1, e.Counters[EnforcementCounters.Killed]);
    }

    [Fact]
    public void OffDoesNothingAtAll()
    {
        var e = Enforcer();

        e.Apply(BOverItsLimit().Build(), new MemorySettings(EnforcementMode.Off, TimeSpan.Zero));

        Assert.Empty(_signals.Signalled);
        Assert.Empty(_log.Lines);
        Assert.All(EnforcementCounters.Actions, a => Assert.Equal(0, e.Counters[a]));
    }

    [Fact]
    public void ARefusedKillSaysWhichCapabilityIsMissing()
    {
        _signals.Outcomes[201] = KillOutcome.Refused;
        _signals.Outcomes[202] = KillOutcome.Refused;
        var e = Enforcer();

        e.Apply(BOverItsLimit().Build(), Kill);

        Assert.Contains(_log.At(LogLevel.Error), l => l.Contains("CAP_KILL", StringComparison.Ordinal));
        Assert.Equal(2, e.Counters[EnforcementCounters.Failed]);
    }
}
