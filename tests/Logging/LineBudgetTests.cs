using System.Diagnostics;
using MetaGpu.Logging;

namespace MetaGpu.Tests.Logging;

public sealed class LineBudgetTests
{
    private long _now;

    private LineBudget Budget(int burst, double perSecond) => new(burst, perSecond, () => _now);

    private void Advance(double seconds) => _now += (long)(seconds * Stopwatch.Frequency);

    [Fact]
    public void ABurstIsWrittenThenCallsAreCountedUntilTheBucketRefills()
    {
        var budget = Budget(burst: 3, perSecond: 2);
        for (var i = 0; i < 3; i++)
        {
            Assert.True(budget.TryTake(out var none, out _));
            Assert.Equal(0, none);
        }
        for (var i = 0; i < 5; i++)
            Assert.False(budget.TryTake(out _, out _));

        Advance(0.4); // 0.8 of a line: still nothing
        Assert.False(budget.TryTake(out _, out _));
        Advance(0.2); // 1.2 lines
        Assert.True(budget.TryTake(out var suppressed, out var over));
        Assert.Equal(6, suppressed);
        Assert.Equal(0.6, over.TotalSeconds, 3);
        // The count was reported once.
        Advance(1);
        Assert.True(budget.TryTake(out suppressed, out _));
        Assert.Equal(0, suppressed);
    }

    [Fact]
    public void ACallerAtTheRefillRateIsNeverCountedAndTheBucketHoldsAtMostTheBurst()
    {
        var budget = Budget(burst: 2, perSecond: 10);
        for (var i = 0; i < 100; i++)
        {
            Advance(0.1);
            Assert.True(budget.TryTake(out var suppressed, out _));
            Assert.Equal(0, suppressed);
        }
        Advance(3600); // an hour idle refills only up to the burst
        Assert.True(budget.TryTake(out _, out _));
        Assert.True(budget.TryTake(out _, out _));
        Assert.False(budget.TryTake(out _, out _));
    }

    [Theory]
    [InlineData(0, 1.0)]
    [InlineData(1, 0.0)]
    [InlineData(1, -1.0)]
    public void NonsenseLimitsAreRefused(int burst, double perSecond) =>
        Assert.ThrowsAny<ArgumentOutOfRangeException>(() => new LineBudget(burst, perSecond));
}
