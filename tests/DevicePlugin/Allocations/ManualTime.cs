namespace MetaGpu.Tests.DevicePlugin.Allocations;

/// <summary>A clock the test moves by hand; it starts at the real time so that file mtimes compare sensibly.</summary>
public sealed class ManualTime : TimeProvider
{
    private DateTimeOffset _now = DateTimeOffset.UtcNow;

    public override DateTimeOffset GetUtcNow() => _now;

    public void Advance(TimeSpan by) => _now += by;
}
