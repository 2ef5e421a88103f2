using MetaGpu.DevicePlugin;

namespace MetaGpu.Tests.DevicePlugin;

/// <summary>How soon a failed registration is tried again (<see cref="PluginManager.RetryDelay"/>).</summary>
public class RegistrationRetryTests
{
    [Fact]
    public void TheFirstHalfSecondIsTriedEveryTenMillisecondsThenTheDelayDoublesToTenSeconds()
    {
        for (var attempt = 1; attempt <= PluginManager.QuickAttempts; attempt++)
            Assert.Equal(TimeSpan.FromMilliseconds(10), PluginManager.RetryDelay(attempt));
        var total = TimeSpan.FromMilliseconds(10) * PluginManager.QuickAttempts;
        Assert.Equal(TimeSpan.FromMilliseconds(500), total);

        Assert.Equal(TimeSpan.FromMilliseconds(20), PluginManager.RetryDelay(PluginManager.QuickAttempts + 1));
        Assert.Equal(TimeSpan.FromMilliseconds(40), PluginManager.RetryDelay(PluginManager.QuickAttempts + 2));
        var previous = TimeSpan.Zero;
        for (var attempt = PluginManager.QuickAttempts + 1; attempt < 200; attempt++)
        {
            var delay = PluginManager.RetryDelay(attempt);
            Assert.True(delay >= previous, $"attempt {attempt}: {delay} after {previous}");
            Assert.True(delay <= TimeSpan.FromSeconds(10));
            previous = delay;
        }
        Assert.Equal(TimeSpan.FromSeconds(10), PluginManager.RetryDelay(int.MaxValue));
    }
}
