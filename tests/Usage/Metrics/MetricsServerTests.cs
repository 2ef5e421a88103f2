using System.Net;
using System.Net.Sockets;
using MetaGpu.Usage.Metrics;
using Microsoft.Extensions.Logging.Abstractions;

namespace MetaGpu.Tests.Usage.Metrics;

/// <summary>The responder's HTTP behaviour, against HttpClient (an independent HTTP/1.1 client) and raw bytes.</summary>
public class MetricsServerTests
{
    private static HttpClient Client(int port) => new(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(5) })
    {
        BaseAddress = new Uri($"http://127.0.0.1:{port}"),
        Timeout = TimeSpan.FromSeconds(60),
    };

    [Fact]
    public async Task HttpClient_scrapes_metrics_with_the_prometheus_content_type_and_keeps_the_connection()
    {
        await using var f = new MetricsServerFixture();
        using var http = Client(f.Port);
        for (var i = 0; i < 3; i++)
        {
            using var r = await http.GetAsync("/metrics");
            Assert.Equal(HttpStatusCode.OK, r.StatusCode);
            Assert.Equal("text/plain; version=0.0.4; charset=utf-8", r.Content.Headers.ContentType!.ToString());
            var body = await r.Content.ReadAsByteArrayAsync();
            Assert.Equal(body.Length, r.Content.Headers.ContentLength);
            Assert.Equal(MetricsServerFixture.ExpectedBody, System.Text.Encoding.UTF8.GetString(body));
            Assert.Equal(new Version(1, 1), r.Version);
        }
        Assert.Equal(3, f.Scrapes);
        Assert.Equal(1, f.Server.ConnectionCount); // one kept-alive connection served all three
    }

    [Fact]
    public async Task Head_answers_the_length_without_a_body()
    {
        await using var f = new MetricsServerFixture();
        using var http = Client(f.Port);
        using var r = await http.SendAsync(new HttpRequestMessage(HttpMethod.Head, "/metrics"));
        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        Assert.Equal(MetricsServerFixture.ExpectedBody.Length, r.Content.Headers.ContentLength);
        Assert.Empty(await r.Content.ReadAsByteArrayAsync());
        // The connection is still in step: a GET on it answers the body.
        Assert.Equal(MetricsServerFixture.ExpectedBody, await http.GetStringAsync("/metrics"));
        Assert.Equal(1, f.Server.ConnectionCount);
    }

    [Fact]
    public async Task Healthz_is_ok_or_503()
    {
        await using var f = new MetricsServerFixture();
        using var http = Client(f.Port);
        using (var r = await http.GetAsync("/healthz"))
        {
            Assert.Equal(HttpStatusCode.OK, r.StatusCode);
            Assert.Equal("ok\n", await r.Content.ReadAsStringAsync());
        }
        f.Healthy = false;
        using (var r = await http.GetAsync("/healthz"))
            Assert.Equal(HttpStatusCode.ServiceUnavailable, r.StatusCode);
        using (var r = await http.SendAsync(new HttpRequestMessage(HttpMethod.Head, "/healthz")))
            Assert.Equal(HttpStatusCode.ServiceUnavailable, r.StatusCode);
    }

    [Fact]
    public async Task Other_paths_are_404_and_other_methods_405_with_allow()
    {
        await using var f = new MetricsServerFixture();
        using var http = Client(f.Port);
        using (var r = await http.GetAsync("/"))
            Assert.Equal(HttpStatusCode.NotFound, r.StatusCode);
        using (var r = await http.GetAsync("/metrics/x"))
            Assert.Equal(HttpStatusCode.NotFound, r.StatusCode);
        using (var r = await http.GetAsync("/metrics?x=1"))
            Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        using (var r = await http.PostAsync("/metrics", new ByteArrayContent([])))
        {
            Assert.Equal(HttpStatusCode.MethodNotAllowed, r.StatusCode);
            Assert.Equal(["GET", "HEAD"], r.Content.Headers.Allow);
        }
        using (var r = await http.DeleteAsync("/healthz"))
            Assert.Equal(HttpStatusCode.MethodNotAllowed, r.StatusCode);
        Assert.Equal(1, f.Server.ConnectionCount);
    }

    [Fact]
    public async Task A_renderer_that_throws_gives_500_and_the_next_scrape_works()
    {
        await using var f = new MetricsServerFixture();
        using var http = Client(f.Port);
        f.Fail = true;
        using (var r = await http.GetAsync("/metrics"))
            Assert.Equal(HttpStatusCode.InternalServerError, r.StatusCode);
        f.Fail = false;
        Assert.Equal(MetricsServerFixture.ExpectedBody, await http.GetStringAsync("/metrics"));
    }

    [Fact]
    public async Task Connection_close_is_honoured()
    {
        await using var f = new MetricsServerFixture();
        using var c = await RawHttpClient.ConnectAsync(f.Port);
        await c.SendAsync("GET /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
        var r = await c.ReadResponseAsync();
        Assert.Equal(200, r!.Status);
        Assert.Equal("close", r.Headers["Connection"]);
        Assert.True(await c.ClosedWithinAsync(TimeSpan.FromSeconds(20)));
    }

    [Fact]
    public async Task Http10_gets_its_answer_and_the_connection_closes()
    {
        await using var f = new MetricsServerFixture();
        using var c = await RawHttpClient.ConnectAsync(f.Port);
        await c.SendAsync("GET /healthz HTTP/1.0\r\n\r\n");
        var r = await c.ReadResponseAsync();
        Assert.Equal(200, r!.Status);
        Assert.Equal("ok\n", r.Body);
        Assert.Equal("close", r.Headers["Connection"]);
        Assert.True(await c.ClosedWithinAsync(TimeSpan.FromSeconds(20)));
    }

    [Fact]
    public async Task Pipelined_requests_are_answered_in_order()
    {
        await using var f = new MetricsServerFixture();
        using var c = await RawHttpClient.ConnectAsync(f.Port);
        await c.SendAsync(
            "GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n" +
            "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n\r\n" + // a stray CRLF between requests is allowed
            "HEAD /metrics HTTP/1.1\nHost: t\n\n" +        // bare LF line ends too
            "GET /nope HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
        var a = await c.ReadResponseAsync();
        var b = await c.ReadResponseAsync();
        var h = await c.ReadResponseAsync(head: true);
        var d = await c.ReadResponseAsync();
        Assert.Equal((200, MetricsServerFixture.ExpectedBody), (a!.Status, a.Body));
        Assert.Equal((200, "ok\n"), (b!.Status, b.Body));
        Assert.Equal(200, h!.Status);
        Assert.Equal(MetricsServerFixture.ExpectedBody.Length.ToString(), h.Headers["Content-Length"]);
        Assert.Equal(404, d!.Status);
        Assert.True(await c.ClosedWithinAsync(TimeSpan.FromSeconds(20)));
    }

    [Theory]
    [InlineData("POST /metrics HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello", 413)]
    [InlineData("POST /metrics HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 413)]
    [InlineData("GET /metrics HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nContent-Length: 0\r\n\r\nx", 413)]
    [InlineData("GET /metrics HTTP/1.1\r\nHost: t\r\nContent-Length: -1\r\n\r\n", 400)]
    [InlineData("GET /metrics HTTP/1.1\r\n\r\n", 400)] // HTTP/1.1 without Host
    [InlineData("GET /metrics HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400)]
    [InlineData("GET /metrics HTTP/1.1\r\nHost: t\r\n folded\r\n\r\n", 400)]
    [InlineData("GET /metrics HTTP/1.1\r\nHost : t\r\n\r\n", 400)]
    [InlineData("GET /metrics HTTP/1.1\r\nHost: t\rX: y\r\n\r\n", 400)]
    [InlineData("GET  /metrics HTTP/1.1\r\nHost: t\r\n\r\n", 400)]
    [InlineData("GET /metrics HTTP/1.1 \r\nHost: t\r\n\r\n", 400)]
    [InlineData("GET metrics HTTP/1.1\r\nHost: t\r\n\r\n", 400)]
    [InlineData("GET /metrics HTTP/2.0\r\nHost: t\r\n\r\n", 505)]
    [InlineData("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505)] // the HTTP/2 preface
    [InlineData("GET /metrics\r\n\r\n", 400)]
    [InlineData("\u0016\u0003\u0001\u0002\u0000\u0001\u0000\u0001\u00fc\u0003\u0003\r\n\r\n", 400)] // a TLS ClientHello's start
    public async Task Bad_requests_get_their_status_and_the_connection_closes(string request, int status)
    {
        await using var f = new MetricsServerFixture();
        using var c = await RawHttpClient.ConnectAsync(f.Port);
        await c.SendAsync(request);
        var r = await c.ReadResponseAsync();
        Assert.Equal(status, r!.Status);
        Assert.Equal("close", r.Headers["Connection"]);
        Assert.True(await c.ClosedWithinAsync(TimeSpan.FromSeconds(20)));
        Assert.Equal(0, f.Scrapes);
        await f.AssertFreshScrapeAsync();
    }

    [Fact]
    public async Task Absolute_form_targets_are_served()
    {
        await using var f = new MetricsServerFixture();
        using var c = await RawHttpClient.ConnectAsync(f.Port);
        await c.SendAsync($"GET http://127.0.0.1:{f.Port}/healthz HTTP/1.1\r\nHost: t\r\n\r\n");
        Assert.Equal("ok\n", (await c.ReadResponseAsync())!.Body);
    }

    [Fact]
    public async Task Off_listens_nowhere()
    {
        await using var s = new MetricsServer(MetricsAddress.Off, _ => { }, () => true, NullLogger.Instance);
        s.Start();
        Assert.Equal(0, s.BoundPort);
    }

    [Fact]
    public async Task All_interfaces_serves_ipv4_and_ipv6_loopback()
    {
        await using var f = new MetricsServerFixture(address: ":0");
        using (var c4 = await RawHttpClient.ConnectAsync(f.Port, IPAddress.Loopback))
        {
            await c4.SendAsync("GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
            Assert.Equal(200, (await c4.ReadResponseAsync())!.Status);
        }
        if (!Ipv6LoopbackWorks())
            return; // a node without IPv6: the IPv4 half above is what ":PORT" means there
        using var c6 = await RawHttpClient.ConnectAsync(f.Port, IPAddress.IPv6Loopback);
        await c6.SendAsync("GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
        Assert.Equal(200, (await c6.ReadResponseAsync())!.Status);
    }

    private static bool Ipv6LoopbackWorks()
    {
        try
        {
            using var probe = new Socket(AddressFamily.InterNetworkV6, SocketType.Stream, ProtocolType.Tcp);
            probe.Bind(new IPEndPoint(IPAddress.IPv6Loopback, 0));
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    [Fact]
    public async Task Ipv6_loopback_address_is_served()
    {
        if (!Ipv6LoopbackWorks())
            return;
        await using var f = new MetricsServerFixture(address: "[::1]:0");
        using var c = await RawHttpClient.ConnectAsync(f.Port, IPAddress.IPv6Loopback);
        await c.SendAsync("GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
        Assert.Equal(200, (await c.ReadResponseAsync())!.Status);
    }
}
