using System.Runtime.InteropServices;
using MetaGpu.Nvml;

namespace MetaGpu.Tests.Gpu;

/// <summary>What only the simulation has: its description language, stable UUIDs and a breakable event machinery.</summary>
public sealed partial class SimulatedBackendTests
{
    [Theory]
    [InlineData("2", 2, "NVIDIA A100-SXM4-40GB")]
    [InlineData("3xT4", 3, "Tesla T4")]
    [InlineData("A100-80GB, t4", 2, "NVIDIA A100-SXM4-80GB")]
    public void DescriptionsParse(string description, int count, string firstName)
    {
        using var b = SimulatedBackend.Parse(description);
        var inv = b.GetInventory();
        Assert.Equal(count, inv.Gpus.Count);
        Assert.Equal(firstName, inv.Gpus[0].Name);
    }

    [Fact]
    public void MemoryOverrideIsApplied()
    {
        using var b = SimulatedBackend.Parse("H100:94GiB");
        Assert.Equal(94UL << 30, b.GetInventory().Gpus[0].MemoryTotalBytes);
    }

    [Theory]
    [InlineData("0", "1..64")]
    [InlineData("2xB200", "unknown GPU model 'B200'")]
    [InlineData("T4:lots", "memory 'lots'")]
    [InlineData("", "GPU count")]
    public void BadDescriptionsNameTheProblem(string description, string expected)
    {
        var e = Assert.Throws<FormatException>(() => SimulatedBackend.Parse(description));
        Assert.Contains(expected, e.Message);
    }

    /// <summary>
    /// An event wait sleeps, as NVML's does: the health loop waits 100 ms at a time, so a wait that spins costs the idle
    /// daemon CPU. The watcher gave Monitor.Wait a TimeSpan, which is cut to whole milliseconds: under 1 ms left was a
    /// wait of 0 and the loop spun, here through all of every 1 ms wait (about 200 ms of CPU for these waits).
    /// </summary>
    [Fact]
    public void AnEventWaitSleepsThroughItsTimeoutInsteadOfSpinning()
    {
        using var b = SimulatedBackend.Parse("1");
        using var watcher = b.WatchEvents();
        var before = ThreadCpuTime();
        var watch = System.Diagnostics.Stopwatch.StartNew();
        for (var i = 0; i < 200; i++)
            Assert.Null(watcher.Wait(TimeSpan.FromMilliseconds(1)));
        var cpu = ThreadCpuTime() - before;
        Assert.True(watch.Elapsed >= TimeSpan.FromMilliseconds(200), $"200 waits of 1 ms took {watch.ElapsedMilliseconds} ms");
        Assert.True(cpu < TimeSpan.FromMilliseconds(60), $"200 waits of 1 ms used {cpu.TotalMilliseconds:0} ms of CPU in {watch.ElapsedMilliseconds} ms");
    }

    private static TimeSpan ThreadCpuTime()
    {
        // CLOCK_THREAD_CPUTIME_ID (3): this thread's CPU time, whatever the other tests do meanwhile.
        Assert.Equal(0, ClockGetTime(3, out var t));
        return TimeSpan.FromTicks(t.Seconds * TimeSpan.TicksPerSecond + t.Nanoseconds / 100);
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct TimeSpec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    [LibraryImport("libc", EntryPoint = "clock_gettime")]
    private static partial int ClockGetTime(int clock, out TimeSpec time);

    [Fact]
    public void UuidsAreStableAcrossRuns()
    {
        using var a = SimulatedBackend.Parse("2");
        using var b = SimulatedBackend.Parse("2");
        Assert.Equal(a.Uuids, b.Uuids);
        Assert.NotEqual(a.Uuids[0], a.Uuids[1]);
    }

    [Fact]
    public void UsedMemoryFollowsProcesses()
    {
        using var b = SimulatedBackend.Parse("1");
        var before = b.GetInventory().Gpus[0].MemoryUsedBytes;
        b.AddProcess(b.Uuids[0], 10, 3UL << 30);
        Assert.Equal(before + (3UL << 30), b.GetInventory().Gpus[0].MemoryUsedBytes);
        b.RemoveProcess(b.Uuids[0], 10);
        Assert.Equal(before, b.GetInventory().Gpus[0].MemoryUsedBytes);
    }

    [Fact]
    public async Task BrokenEventMachineryMarksEveryGpuUnhealthyAndRecovers()
    {
        using var b = SimulatedBackend.Parse("2");
        var options = new GpuHealthOptions { EventWaitTimeout = TimeSpan.FromMilliseconds(50), RecoveryQuietPeriod = TimeSpan.FromMilliseconds(300), RetryDelay = TimeSpan.FromMilliseconds(100) };
        using var monitor = new GpuHealthMonitor(b, b.Uuids, options);
        b.FailEvents = "Unknown Error";
        monitor.Start();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(3));
        var s = monitor.Current;
        while (s.Gpus.Values.Any(g => g.Healthy))
            s = await monitor.WaitForChangeAsync(s.Version, cts.Token);
        Assert.All(s.Gpus.Values, g => Assert.Contains("health events failed: ", g.Reason));

        b.FailEvents = null;
        while (!s.Gpus.Values.All(g => g.Healthy))
            s = await monitor.WaitForChangeAsync(s.Version, cts.Token);
    }

    [Fact]
    public void LostGpuFailsQueriesWithNvmlsWords()
    {
        using var b = SimulatedBackend.Parse("1");
        b.SetLost(b.Uuids[0], true);
        var problem = Assert.Single(b.GetInventory().Unavailable);
        Assert.Contains("GPU is lost", problem.Reason);
        var e = Assert.Throws<GpuBackendException>(() => b.Probe(b.Uuids[0]));
        Assert.Equal(NvmlReturn.GpuIsLost, e.Code);
        Assert.Contains("GPU is lost", e.Message);
    }
}

/// <summary>Health rules changed while the monitor runs (a config reload) apply to the next event.</summary>
public sealed class HealthOptionsReloadTests
{
    [Fact]
    public async Task AnXidIgnoredAfterTheChangeNoLongerCounts()
    {
        using var b = SimulatedBackend.Parse("1");
        var fast = new GpuHealthOptions { EventWaitTimeout = TimeSpan.FromMilliseconds(50), RecoveryQuietPeriod = TimeSpan.FromMilliseconds(200) };
        using var monitor = new GpuHealthMonitor(b, b.Uuids, fast);
        monitor.Start();
        await Task.Delay(100);
        monitor.Options = fast.WithXids(add: [48], remove: null);
        b.InjectEvent(new GpuEvent(b.Uuids[0], GpuEventKind.Xid, 48));
        await Task.Delay(400);
        Assert.True(monitor.Current.IsHealthy(b.Uuids[0]));

        // Back to the defaults: the same XID now marks the GPU unhealthy (with the quiet period long enough to see it).
        monitor.Options = fast with { RecoveryQuietPeriod = TimeSpan.FromSeconds(30) };
        var before = monitor.Current.Version;
        b.InjectEvent(new GpuEvent(b.Uuids[0], GpuEventKind.Xid, 48));
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(3));
        var s = await monitor.WaitForChangeAsync(before, cts.Token);
        Assert.False(s.IsHealthy(b.Uuids[0]));
        Assert.Contains("XID 48", s.Gpus[b.Uuids[0]].Reason);
    }
}
