namespace MetaGpu.Tests.Support;

/// <summary>
/// A clock that moves only when told to. It starts at the real time by default, so that file modification times
/// (which the kernel sets from the real clock) compare sensibly with it.
/// </summary>
public sealed class ManualTime(DateTimeOffset start) : TimeProvider
{
    private long _ticks = start.UtcTicks;

    public ManualTime() : this(DateTimeOffset.UtcNow)
    {
    }

    public override DateTimeOffset GetUtcNow() => new(Interlocked.Read(ref _ticks), TimeSpan.Zero);

    public void Advance(TimeSpan by) => Interlocked.Add(ref _ticks, by.Ticks);
}
