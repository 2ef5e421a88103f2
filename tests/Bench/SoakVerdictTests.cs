using MetaGpu.Bench;

namespace MetaGpu.Tests.Bench;

/// <summary>The soak's verdict (bench/MetaGpu.Bench/SoakVerdict.cs): flat after the first minute, judged on per-minute floors.</summary>
public class SoakVerdictTests
{
    private static SoakFootprint At(long rssKiB, int fds = 23, int threads = 12, string fdKinds = "socket 9", string threadNames = "gpu-health 1") =>
        new(rssKiB, rssKiB - 8000, fds, threads, fdKinds, threadNames);

    /// <summary>Minute <paramref name="number"/> with the given floor and a peak far above it.</summary>
    private static SoakMinute Minute(int number, SoakFootprint floor) =>
        new(number, floor, floor with { RssKiB = floor.RssKiB + 5000, RssAnonKiB = floor.RssAnonKiB + 5000, Fds = floor.Fds + 3, Threads = floor.Threads + 4 },
            60, new long[SoakTally.All.Length], []);

    private static SoakJudgement Of(IReadOnlyList<SoakJudgement> judgements, string name) => Assert.Single(judgements, j => j.Name == name);

    [Fact]
    public void FloorsWithinTheirBounds_AreFlat_WhateverThePeaksAndTheFirstMinute()
    {
        var judgements = SoakVerdict.Judge(
        [
            Minute(1, At(9000, fds: 20, threads: 9)),
            Minute(2, At(20000)),
            Minute(3, At(21000, threads: 13)),
            Minute(4, At(20400, threads: 14)),
        ]);
        Assert.Equal(["rss", "rss_anon", "fds", "threads"], judgements.Select(j => j.Name));
        Assert.All(judgements, j => Assert.True(j.Flat, $"{j.Name}: spread {j.Spread}, bound {j.Bound}"));
        Assert.Equal((2, 4), (judgements[0].FirstMinute, judgements[0].LastMinute));
        Assert.Equal((1000, 1024, 400), (Of(judgements, "rss").Spread, Of(judgements, "rss").Bound, Of(judgements, "rss").LastMinusFirst));
        Assert.Equal(2, Of(judgements, "threads").Spread);
    }

    [Fact]
    public void RssBound_Is1MiB_Or5PercentOfMinuteTwo_WhicheverIsMore()
    {
        // 5% of 40,000 KiB is 2,000 KiB: a rise of 1,900 is flat, 2,100 is not.
        Assert.True(Of(SoakVerdict.Judge([Minute(1, At(10000)), Minute(2, At(40000)), Minute(3, At(41900))]), "rss").Flat);
        var rising = Of(SoakVerdict.Judge([Minute(1, At(10000)), Minute(2, At(40000)), Minute(3, At(42100))]), "rss");
        Assert.False(rising.Flat);
        Assert.Equal((2000, 2100), (rising.Bound, rising.Spread));

        // On 16,000 KiB, 5% is less than 1 MiB: the bound is 1,024.
        Assert.False(Of(SoakVerdict.Judge([Minute(1, At(10000)), Minute(2, At(16000)), Minute(3, At(17100))]), "rss").Flat);
    }

    [Fact]
    public void OneMoreFdAtEverySampleOfAMinute_IsNotFlat_AndSaysWhatTheFdsWere()
    {
        var fds = Of(SoakVerdict.Judge(
        [
            Minute(1, At(20000)),
            Minute(2, At(20000, fds: 23, fdKinds: "pidfd 3, socket 9")),
            Minute(3, At(20000, fds: 24, fdKinds: "pidfd 4, socket 9")),
            Minute(4, At(20000, fds: 23, fdKinds: "pidfd 3, socket 9")),
        ]), "fds");
        Assert.False(fds.Flat);
        Assert.Equal((0, 1), (fds.Bound, fds.Spread));
        Assert.Contains("minute 2 (23): pidfd 3, socket 9", fds.What);
        Assert.Contains("minute 3 (24): pidfd 4, socket 9", fds.What);
    }

    [Fact]
    public void ThreeMoreThreads_AreNotFlat()
    {
        var threads = Of(SoakVerdict.Judge([Minute(1, At(20000)), Minute(2, At(20000, threads: 12)), Minute(3, At(20000, threads: 15))]), "threads");
        Assert.False(threads.Flat);
        Assert.Equal(3, threads.Spread);
    }

    [Fact]
    public void FewerThanTwoMinutesAfterTheFirst_AreNotJudged()
    {
        Assert.Empty(SoakVerdict.Judge([Minute(1, At(20000)), Minute(2, At(20000))]));
        Assert.Empty(SoakVerdict.Judge([]));
    }
}
