using MetaGpu.DevicePlugin.Allocations;
using Xunit;

namespace MetaGpu.Tests.DevicePlugin.Allocations;

/// <summary>When a file's stamp is trusted to stand for its bytes: by the file system's time granularity and the kernel's tick.</summary>
public sealed class FileStampTests
{
    private const long Second = 1_000_000_000;

    [Fact]
    public void TheTickIsTheCoarseRealTimeClocksResolution()
    {
        // Linux ticks at HZ 100 to 1000: 1 to 10 ms (4 ms on most distributions' kernels).
        Assert.InRange(FileStamp.TickNs, 1_000_000, 10_000_000);
        Assert.Equal(2 * FileStamp.TickNs, FileStamp.TickSettleTime.Ticks * 100);
    }

    [Fact]
    public void TimesWithNanosecondsSettleInTwoTicks()
    {
        var stamp = new FileStamp(1, 2, 3, ModifiedNs: 1_700_000_000 * Second + 123_456_789, ChangedNs: 1_700_000_000 * Second + 123_456_789);
        Assert.Equal(FileStamp.TickSettleTime, stamp.SettleTime);
        var tick = FileStamp.TickNs;
        Assert.False(stamp.SettledAt(stamp.ChangedNs + tick));
        Assert.True(stamp.SettledAt(stamp.ChangedNs + 2 * tick));
    }

    [Fact]
    public void TimesOfWholeSecondsSettleInTwoSeconds()
    {
        // A file system that keeps seconds only: a change later in the same second leaves the times as they were.
        var stamp = new FileStamp(1, 2, 3, ModifiedNs: 1_700_000_000 * Second, ChangedNs: 1_700_000_000 * Second);
        Assert.Equal(FileStamp.WholeSecondSettleTime, stamp.SettleTime);
        Assert.False(stamp.SettledAt(stamp.ChangedNs + Second + Second / 2));
        Assert.True(stamp.SettledAt(stamp.ChangedNs + 2 * Second));
        // One time with nanoseconds is enough to tell the file system has them.
        Assert.Equal(FileStamp.TickSettleTime, (stamp with { ChangedNs = stamp.ChangedNs + 4_000_000 }).SettleTime);
    }

    [Fact]
    public void TheLaterOfTheTwoTimesCountsAndAGivenSettleTimeOverridesTheStampsOwn()
    {
        var stamp = new FileStamp(1, 2, 3, ModifiedNs: 100 * Second + 1, ChangedNs: 101 * Second + 1);
        Assert.False(stamp.SettledAt(100 * Second + 1 + 3 * FileStamp.TickNs)); // the change time is a second later
        Assert.True(stamp.SettledAt(101 * Second + 1 + 3 * FileStamp.TickNs));
        Assert.False(stamp.SettledAt(101 * Second + 1 + 3 * FileStamp.TickNs, TimeSpan.FromSeconds(1)));
        Assert.True(stamp.SettledAt(102 * Second + 1, TimeSpan.FromSeconds(1)));
    }
}
