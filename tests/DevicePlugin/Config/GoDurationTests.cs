using MetaGpu.DevicePlugin.Config;

namespace MetaGpu.Tests.DevicePlugin.Config;

public sealed class GoDurationTests
{
    [Theory]
    [InlineData("0", 0)]
    [InlineData("0s", 0)]
    [InlineData("90s", 90_000_000_000)]
    [InlineData("2m", 120_000_000_000)]
    [InlineData("1h", 3_600_000_000_000)]
    [InlineData("500ms", 500_000_000)]
    [InlineData("1h30m", 5_400_000_000_000)]
    [InlineData("1.5h", 5_400_000_000_000)]
    [InlineData(".5s", 500_000_000)]
    [InlineData("5.s", 5_000_000_000)]
    [InlineData("1m0.25s", 60_250_000_000)]
    [InlineData("100us", 100_000)]
    [InlineData("100\u00b5s", 100_000)]
    [InlineData("100\u03bcs", 100_000)]
    [InlineData("300ns", 300)]
    [InlineData("2h45m30s100ms", 9_930_100_000_000)]
    public void GoFormsParse(string text, long nanoseconds)
    {
        Assert.True(GoDuration.TryParse(text, out var d));
        Assert.Equal(TimeSpan.FromTicks(nanoseconds / 100), d);
    }

    [Theory]
    [InlineData("")]
    [InlineData("1")]
    [InlineData("s")]
    [InlineData(".s")]
    [InlineData("-1s")]
    [InlineData("+1s")]
    [InlineData("1d")]
    [InlineData("1 s")]
    [InlineData("1S")]
    [InlineData("1..5s")]
    [InlineData("1s2")]
    [InlineData("3000000h")]
    [InlineData("99999999999999999999s")]
    public void OtherFormsDoNot(string text) => Assert.False(GoDuration.TryParse(text, out _));
}
