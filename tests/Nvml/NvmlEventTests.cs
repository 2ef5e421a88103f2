using System.Diagnostics;
using MetaGpu.Nvml;

namespace MetaGpu.Tests.Nvml;

/// <summary>WatchEvents and Wait through the real bindings against the fake libnvidia-ml.</summary>
[Collection(FakeNvmlCollection.Name)]
public sealed class NvmlEventTests(FakeNvml fake)
{
    private const string Gpus = """
        driver 550.54.15
        cuda 12040
        gpu index=0 uuid=GPU-zero name=zero mem_total=1 mem_used=0 pci=00000000:07:00.0 minor=0
        gpu index=1 uuid=GPU-one name=one mem_total=1 mem_used=0 pci=00000000:08:00.0 minor=1
        gpu index=2 uuid=MIG-GPU-5c89852c-d268-c3f3-1b07-005d5ae1dc3f/7/0 name=two mem_total=1 mem_used=0 pci=00000000:09:00.0 minor=2

        """;

    private const string Two = "MIG-GPU-5c89852c-d268-c3f3-1b07-005d5ae1dc3f/7/0";
    private static readonly TimeSpan Long = TimeSpan.FromSeconds(5);

    [Fact]
    public void QueuedEventsComeOutInOrderWithTheirGpuKindAndData()
    {
        using var nvml = fake.Open(Gpus + """
            event gpu=0 type=0x8 data=79
            event gpu=1 type=0x8 data=13
            event gpu=2 type=0x2 data=0
            event gpu=1 type=0x1
            """);
        using var watcher = nvml.WatchEvents();
        Assert.Empty(watcher.RegistrationFailures);

        Assert.Equal(new GpuEvent("GPU-zero", GpuEventKind.Xid, 79), watcher.Wait(Long));
        Assert.Equal(new GpuEvent("GPU-one", GpuEventKind.Xid, 13), watcher.Wait(Long));
        Assert.Equal(new GpuEvent(Two, GpuEventKind.DoubleBitEcc, 0), watcher.Wait(Long));
        Assert.Equal(new GpuEvent("GPU-one", GpuEventKind.SingleBitEcc, 0), watcher.Wait(Long));

        var clock = Stopwatch.StartNew();
        Assert.Null(watcher.Wait(TimeSpan.FromMilliseconds(300)));
        Assert.InRange(clock.Elapsed, TimeSpan.FromMilliseconds(250), TimeSpan.FromSeconds(3));
    }

    [Fact]
    public void AnEventWrittenWhileWaitingWakesTheWait()
    {
        using var nvml = fake.Open(Gpus);
        using var watcher = nvml.WatchEvents();
        var clock = Stopwatch.StartNew();
        var wait = Waiter.Start(watcher, TimeSpan.FromSeconds(10));
        Thread.Sleep(100);
        fake.Rewrite(Gpus + "event gpu=2 type=0x8 data=48\n");
        Assert.Equal(new GpuEvent(Two, GpuEventKind.Xid, 48), wait.Result(Long));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5));
    }

    [Fact]
    public void AGpuThatCannotRegisterIsReportedAndTheOthersStillDeliver()
    {
        using var nvml = fake.Open(Gpus + """
            error func=nvmlDeviceRegisterEvents gpu=1 code=999
            error func=nvmlDeviceRegisterEvents gpu=0 code=3
            event gpu=1 type=0x8 data=31
            event gpu=0 type=0x8 data=43
            event gpu=2 type=0x8 data=94
            """);
        using var watcher = nvml.WatchEvents();

        // A failure makes the GPU suspect; NOT_SUPPORTED only means it has no health events (it stays usable).
        var failure = Assert.Single(watcher.RegistrationFailures);
        Assert.Equal("GPU-one", failure.Key);
        Assert.Equal("nvmlDeviceRegisterEvents failed: Unknown Error (NVML error 999)", failure.Value);
        var unwatched = Assert.Single(watcher.Unwatched);
        Assert.Equal("GPU-zero", unwatched.Key);
        Assert.Equal("nvmlDeviceRegisterEvents failed: Not Supported (NVML error 3)", unwatched.Value);

        // Only GPU 2 registered: the events of GPUs 0 and 1 never come.
        Assert.Equal(new GpuEvent(Two, GpuEventKind.Xid, 94), watcher.Wait(Long));
        Assert.Null(watcher.Wait(TimeSpan.FromMilliseconds(50)));
    }

    [Fact]
    public void OnlySupportedTypesAreRegistered()
    {
        // GPU 0 has no ECC (XID only); GPU 1 offers only P-state and clock events; GPU 2 cannot say what it supports.
        var world = Gpus.Replace("minor=0", "minor=0 events=0x8").Replace("minor=1", "minor=1 events=0x14") + """
            error func=nvmlDeviceGetSupportedEventTypes gpu=2 code=999
            event gpu=0 type=0x2
            event gpu=0 type=0x8 data=79
            """;
        using var nvml = fake.Open(world);
        using var watcher = nvml.WatchEvents();

        Assert.Equal([Two], watcher.RegistrationFailures.Keys);
        Assert.Equal(["GPU-one"], watcher.Unwatched.Keys);
        Assert.Contains("Not Supported", watcher.Unwatched["GPU-one"]);
        Assert.Equal("nvmlDeviceGetSupportedEventTypes failed: Unknown Error (NVML error 999)", watcher.RegistrationFailures[Two]);
        Assert.Equal(new GpuEvent("GPU-zero", GpuEventKind.Xid, 79), watcher.Wait(Long)); // the ECC event was not registered
    }

    [Fact]
    public void ALostGpuIsReportedByTheWaitAndFailsItsProbe()
    {
        using var nvml = fake.Open(Gpus);
        using var watcher = nvml.WatchEvents();
        Assert.Null(watcher.Wait(TimeSpan.FromMilliseconds(20)));

        fake.Rewrite(Gpus + "lost gpu=1\n");
        Assert.Equal(new GpuEvent("GPU-one", GpuEventKind.GpuLost, 0), watcher.Wait(Long));
        Assert.Equal(NvmlReturn.GpuIsLost, Assert.Throws<GpuBackendException>(() => nvml.Probe("GPU-one")).Code);
        nvml.Probe("GPU-zero");
        Assert.Null(watcher.Wait(TimeSpan.FromMilliseconds(20))); // the fake reports a loss once per event set
    }

    [Fact]
    public void ARegistrationThatFailsUntilClearedWorksInTheNextEventSet()
    {
        using var nvml = fake.Open(Gpus + "error func=nvmlDeviceRegisterEvents gpu=1 code=999\n");
        using (var failing = nvml.WatchEvents())
            Assert.Equal(["GPU-one"], failing.RegistrationFailures.Keys);

        fake.Rewrite(Gpus + "event gpu=1 type=0x8 data=48\n");
        using var working = nvml.WatchEvents();
        Assert.Empty(working.RegistrationFailures);
        Assert.Equal(new GpuEvent("GPU-one", GpuEventKind.Xid, 48), working.Wait(Long));
    }

    [Fact]
    public void AGpuLostWithoutAnEventIsSilentToTheWaitButFailsItsProbe()
    {
        using var nvml = fake.Open(Gpus);
        using var watcher = nvml.WatchEvents();
        fake.Rewrite(Gpus + "lost gpu=1 event=0\n");
        Assert.Null(watcher.Wait(TimeSpan.FromMilliseconds(200)));
        var e = Assert.Throws<GpuBackendException>(() => nvml.Probe("GPU-one"));
        Assert.Equal(NvmlReturn.GpuIsLost, e.Code);
        nvml.Probe("GPU-zero");
    }

    [Fact]
    public void AGpuLostBeforeRegistrationIsNamedByIndex()
    {
        using var nvml = fake.Open(Gpus + "lost gpu=1\nevent gpu=0 type=0x8 data=62\n");
        using var watcher = nvml.WatchEvents();
        var failure = Assert.Single(watcher.RegistrationFailures);
        Assert.Equal(("GPU 1", "nvmlDeviceGetUUID failed: GPU is lost (NVML error 15)"), (failure.Key, failure.Value));
        Assert.Equal(new GpuEvent("GPU-zero", GpuEventKind.Xid, 62), watcher.Wait(Long));
    }

    [Fact]
    public void AFailingWaitThrows()
    {
        using var nvml = fake.Open(Gpus);
        using var watcher = nvml.WatchEvents();
        fake.Rewrite(Gpus + "error func=nvmlEventSetWait_v2 code=999\n");
        var e = Assert.Throws<GpuBackendException>(() => watcher.Wait(Long));
        Assert.Equal(("nvmlEventSetWait_v2", NvmlReturn.Unknown), (e.Function, e.Code));
    }

    [Fact]
    public void AFailingEventSetFailsTheWatch()
    {
        using var nvml = fake.Open(Gpus + "error func=nvmlEventSetCreate code=20\n");
        var e = Assert.Throws<GpuBackendException>(nvml.WatchEvents);
        Assert.Equal(("nvmlEventSetCreate", 20), (e.Function, e.Code));
        Assert.Contains("Insufficient Memory", e.Message);
    }

    [Fact]
    public void EventSetsAreFreedByTheWatcherOrTheBackend()
    {
        var before = fake.EventSetCount;
        using (var nvml = fake.Open(Gpus))
        {
            var first = nvml.WatchEvents();
            var second = nvml.WatchEvents();
            Assert.Equal(before + 2, fake.EventSetCount);
            first.Dispose();
            first.Dispose();
            Assert.Equal(before + 1, fake.EventSetCount);
            Assert.Throws<ObjectDisposedException>(() => first.Wait(TimeSpan.Zero));
            GC.KeepAlive(second);
        }
        Assert.Equal(before, fake.EventSetCount); // the backend freed the second
    }

    [Fact]
    public void DisposingTheWatcherDuringAWaitFreesTheSetWhenTheWaitReturns()
    {
        var before = fake.EventSetCount;
        using var nvml = fake.Open(Gpus);
        var watcher = nvml.WatchEvents();
        var wait = Waiter.Start(watcher, TimeSpan.FromMilliseconds(500));
        Thread.Sleep(150);
        watcher.Dispose();
        Assert.Equal(before + 1, fake.EventSetCount); // still in use by the wait
        Assert.Null(wait.Result(Long));
        Assert.Equal(before, fake.EventSetCount);
    }

    /// <summary>A Wait on a thread of its own, as the health monitor runs it (a blocking native call, not a pool task).</summary>
    private sealed class Waiter
    {
        private readonly Thread _thread;
        private GpuEvent? _result;
        private Exception? _error;

        private Waiter(IGpuEventWatcher watcher, TimeSpan timeout)
        {
            _thread = new Thread(() =>
            {
                try
                {
                    _result = watcher.Wait(timeout);
                }
                catch (Exception e)
                {
                    _error = e;
                }
            }) { IsBackground = true };
        }

        public static Waiter Start(IGpuEventWatcher watcher, TimeSpan timeout)
        {
            var waiter = new Waiter(watcher, timeout);
            waiter._thread.Start();
            return waiter;
        }

        public GpuEvent? Result(TimeSpan within)
        {
            Assert.True(_thread.Join(within), "the wait did not return in time");
            return _error is null ? _result : throw new InvalidOperationException("the wait failed", _error);
        }
    }
}
