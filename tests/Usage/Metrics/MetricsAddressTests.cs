using System.Net;
using MetaGpu.Usage.Metrics;

namespace MetaGpu.Tests.Usage.Metrics;

public class MetricsAddressTests
{
    [Theory]
    [InlineData(":9400", null, 9400, ":9400")]
    [InlineData("0.0.0.0:9400", "0.0.0.0", 9400, "0.0.0.0:9400")]
    [InlineData("127.0.0.1:9400", "127.0.0.1", 9400, "127.0.0.1:9400")]
    [InlineData("[::1]:9400", "::1", 9400, "[::1]:9400")]
    [InlineData("[::]:80", "::", 80, "[::]:80")]
    [InlineData(" :0 ", null, 0, ":0")]
    [InlineData("10.1.2.3:65535", "10.1.2.3", 65535, "10.1.2.3:65535")]
    public void Accepted_forms(string text, string? ip, int port, string canonical)
    {
        var a = MetricsAddress.Parse(text);
        Assert.True(a.Enabled);
        Assert.Equal(ip is null ? null : IPAddress.Parse(ip), a.Ip);
        Assert.Equal(port, a.Port);
        Assert.Equal(canonical, a.ToString());
    }

    [Theory]
    [InlineData("off")]
    [InlineData("OFF")]
    public void Off_disables(string text)
    {
        var a = MetricsAddress.Parse(text);
        Assert.False(a.Enabled);
        Assert.Same(MetricsAddress.Off, a);
        Assert.Equal("off", a.ToString());
    }

    [Theory]
    [InlineData("")]
    [InlineData("9400")]
    [InlineData(":")]
    [InlineData(":65536")]
    [InlineData(":-1")]
    [InlineData(":+80")]
    [InlineData(": 80")]
    [InlineData(":123456")]
    [InlineData("localhost:9400")]
    [InlineData("::1:9400")]
    [InlineData("[127.0.0.1]:9400")]
    [InlineData("[::1:9400")]
    [InlineData("[]:9400")]
    [InlineData("[fe80::1%eth0]:9400")]
    [InlineData("1:9400")]
    [InlineData("0x7f.0.0.1:9400")]
    [InlineData("256.0.0.1:9400")]
    [InlineData("http://0.0.0.0:9400")]
    [InlineData("no")]
    public void Anything_else_names_the_value_and_the_accepted_forms(string text)
    {
        var e = Assert.Throws<FormatException>(() => MetricsAddress.Parse(text));
        Assert.Contains($"'{text}'", e.Message);
        Assert.Contains("':PORT'", e.Message);
        Assert.Contains("'off'", e.Message);
    }

    [Fact]
    public void A_long_value_is_not_echoed_whole()
    {
        var e = Assert.Throws<FormatException>(() => MetricsAddress.Parse(new string('x', 5000) + ":1"));
        Assert.True(e.Message.Length < 400, e.Message);
    }
}
