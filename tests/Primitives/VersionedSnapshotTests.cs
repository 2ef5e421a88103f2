using MetaGpu.Primitives;

namespace MetaGpu.Tests.Primitives;

public sealed class VersionedSnapshotTests
{
    private sealed record Counter(long Version, int Value) : IVersioned<Counter>
    {
        public Counter WithVersion(long version) => this with { Version = version };
    }

    [Fact]
    public void EachUpdateGetsTheNextVersionWhateverTheChangeReturns()
    {
        var s = new VersionedSnapshot<Counter>(new Counter(1, 0));
        var a = s.Update(c => c with { Value = 5, Version = 99 });
        var b = s.Publish(new Counter(-3, 7));
        Assert.Equal((2L, 5), (a.Version, a.Value));
        Assert.Equal((3L, 7), (b.Version, b.Value));
        Assert.Same(b, s.Current);
    }

    [Fact]
    public async Task AWaiterWakesOnTheNextUpdateAndAStaleOneReturnsAtOnce()
    {
        var s = new VersionedSnapshot<Counter>(new Counter(1, 0));
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var waiting = s.WaitForChangeAsync(1, cts.Token);
        Assert.False(waiting.IsCompleted);
        Assert.False(s.WhenChanged(1).IsCompleted);
        s.Update(c => c with { Value = 1 });
        var seen = await waiting;
        Assert.Equal(2, seen.Version);
        Assert.True(s.WhenChanged(1).IsCompleted);
        // A reader that is behind gets the newest value without waiting.
        Assert.Same(s.Current, await s.WaitForChangeAsync(0, cts.Token));
    }

    [Fact]
    public async Task AReaderThatFollowsVersionsNeverMissesTheLastValue()
    {
        var s = new VersionedSnapshot<Counter>(new Counter(1, 0));
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        const int Writers = 4, PerWriter = 2_000;
        var reader = Task.Run(async () =>
        {
            var seen = s.Current;
            var versions = 0;
            while (seen.Value < Writers * PerWriter)
            {
                var next = await s.WaitForChangeAsync(seen.Version, cts.Token);
                Assert.True(next.Version > seen.Version);
                Assert.True(next.Value >= seen.Value);
                seen = next;
                versions++;
            }
            return (seen, versions);
        });
        await Task.WhenAll(Enumerable.Range(0, Writers).Select(_ => Task.Run(() =>
        {
            for (var i = 0; i < PerWriter; i++)
                s.Update(c => c with { Value = c.Value + 1 });
        })));
        var (last, _) = await reader;
        Assert.Equal(Writers * PerWriter, last.Value);
        Assert.Equal(1 + Writers * PerWriter, last.Version);
    }

    [Fact]
    public async Task CancellingAWaitLeavesTheSnapshotUsable()
    {
        var s = new VersionedSnapshot<Counter>(new Counter(1, 0));
        using var cts = new CancellationTokenSource();
        var waiting = s.WaitForChangeAsync(1, cts.Token);
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting);
        s.Update(c => c with { Value = 2 });
        Assert.Equal(2, (await s.WaitForChangeAsync(1, CancellationToken.None)).Value);
    }
}
