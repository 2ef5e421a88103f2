using System.Buffers;
using System.Net;
using System.Net.Sockets;
using System.Text;
using MetaGpu.Usage.Metrics;
using Microsoft.Extensions.Logging.Abstractions;

namespace MetaGpu.Tests.Usage.Metrics;

/// <summary>
/// Hostile and broken clients, each followed by a fresh scrape that must still answer. Timeouts are shortened
/// through <see cref="MetricsServerLimits"/>; assertions poll with generous bounds (a loaded 2-core machine).
/// </summary>
public class MetricsServerHostileTests
{
    private static readonly MetricsServerLimits Short = new()
    {
        HeadTimeout = TimeSpan.FromSeconds(2),
        IdleTimeout = TimeSpan.FromSeconds(3),
        WriteTimeout = TimeSpan.FromSeconds(1),
    };

    [Fact]
    public async Task Slowloris_trickling_a_head_is_closed_at_the_head_deadline()
    {
        await using var f = new MetricsServerFixture(Short);
        using var c = await RawHttpClient.ConnectAsync(f.Port);
        await c.SendAsync("GET /metrics HTTP/1.1\r\nHost: t\r\n");
        using var stop = new CancellationTokenSource();
        var trickle = Task.Run(async () =>
        {
            try
            {
                while (!stop.IsCancellationRequested)
                {
                    await c.SendAsync("X");
                    await Task.Delay(100);
                }
            }
            catch (Exception)
            {
                // the server closed it
            }
        });
        // Bytes keep coming every 100 ms: the deadline is for the whole head, not for silence, so it still closes.
        Assert.True(await c.ClosedWithinAsync(TimeSpan.FromSeconds(30)), "a trickled head kept the connection open");
        stop.Cancel();
        await trickle;
        await f.AssertFreshScrapeAsync();
        await MetricsServerFixture.EventuallyAsync(() => f.Server.ConnectionCount == 0, "connections closed");
    }

    [Fact]
    public async Task A_silent_connection_is_closed_after_the_head_timeout()
    {
        await using var f = new MetricsServerFixture(Short);
        using var c = await RawHttpClient.ConnectAsync(f.Port);
        Assert.True(await c.ClosedWithinAsync(TimeSpan.FromSeconds(30)));
        await f.AssertFreshScrapeAsync();
    }

    [Fact]
    public async Task A_kept_alive_connection_lives_through_the_head_timeout_and_ends_at_the_idle_timeout()
    {
        await using var f = new MetricsServerFixture(Short with { IdleTimeout = TimeSpan.FromSeconds(6) });
        using var c = await RawHttpClient.ConnectAsync(f.Port);
        await c.SendAsync("GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
        Assert.Equal(200, (await c.ReadResponseAsync())!.Status);
        await Task.Delay(3000); // past the 2 s head timeout, within the 6 s idle timeout
        await c.SendAsync("GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
        Assert.Equal(200, (await c.ReadResponseAsync())!.Status);
        var second = DateTime.UtcNow;
        Assert.True(await c.ClosedWithinAsync(TimeSpan.FromSeconds(30)));
        Assert.True(DateTime.UtcNow - second > TimeSpan.FromSeconds(4), "closed before the idle timeout");
    }

    [Fact]
    public async Task A_head_just_over_8_KiB_is_431_and_closed()
    {
        await using var f = new MetricsServerFixture();
        using var c = await RawHttpClient.ConnectAsync(f.Port);
        await c.SendAsync("GET /metrics HTTP/1.1\r\nHost: t\r\nX-Pad: " + new string('a', 8 * 1024) + "\r\n\r\n");
        var r = await c.ReadResponseAsync();
        Assert.Equal(431, r!.Status);
        Assert.True(await c.ClosedWithinAsync(TimeSpan.FromSeconds(20)));
        Assert.Equal(0, f.Scrapes);
    }

    [Fact]
    public async Task A_head_of_exactly_8_KiB_is_served()
    {
        await using var f = new MetricsServerFixture();
        using var c = await RawHttpClient.ConnectAsync(f.Port);
        var start = "GET /healthz HTTP/1.1\r\nHost: t\r\nX-Pad: ";
        await c.SendAsync(start + new string('a', 8 * 1024 - start.Length - 4) + "\r\n\r\n");
        Assert.Equal(200, (await c.ReadResponseAsync())!.Status);
    }

    [Fact]
    public async Task A_1_MB_header_line_is_refused_and_the_server_lives()
    {
        await using var f = new MetricsServerFixture();
        using var c = await RawHttpClient.ConnectAsync(f.Port);
        var send = Task.Run(async () =>
        {
            try
            {
                await c.SendAsync(Encoding.ASCII.GetBytes("GET /metrics HTTP/1.1\r\nHost: t\r\nX-Big: " + new string('a', 1024 * 1024) + "\r\n\r\n"));
            }
            catch (Exception)
            {
                // reset by the server once it gave up reading: expected
            }
        });
        try
        {
            var r = await c.ReadResponseAsync();
            if (r is not null)
                Assert.Equal(431, r.Status);
        }
        catch (SocketException)
        {
            // the reset raced the answer
        }
        await send;
        Assert.Equal(0, f.Scrapes);
        await MetricsServerFixture.EventuallyAsync(() => f.Server.ConnectionCount == 0, "the connection closed");
        await f.AssertFreshScrapeAsync();
    }

    [Fact]
    public async Task Garbage_is_400_and_closed()
    {
        await using var f = new MetricsServerFixture();
        var random = new Random(7);
        for (var i = 0; i < 20; i++)
        {
            var garbage = new byte[random.Next(1, 4000)];
            random.NextBytes(garbage);
            garbage[0] = 0xFF; // not a token character: never a request line
            using var c = await RawHttpClient.ConnectAsync(f.Port);
            await c.SendAsync([.. garbage, .. "\r\n\r\n"u8.ToArray()]);
            Assert.Equal(400, (await c.ReadResponseAsync())!.Status);
            Assert.True(await c.ClosedWithinAsync(TimeSpan.FromSeconds(20)));
        }
        Assert.Equal(0, f.Scrapes);
        await f.AssertFreshScrapeAsync();
    }

    [Fact]
    public async Task A_thousand_connections_opened_and_dropped_leave_no_socket_behind()
    {
        await using var f = new MetricsServerFixture();
        Assert.Equal(1, MetricsServerFixture.OpenSocketsOnPort(f.Port)); // the listener
        for (var batch = 0; batch < 20; batch++)
        {
            var clients = await Task.WhenAll(Enumerable.Range(0, 50).Select(_ => RawHttpClient.ConnectAsync(f.Port)));
            for (var i = 0; i < clients.Length; i++)
            {
                switch (i % 4)
                {
                    case 0:
                        break; // silent
                    case 1:
                        await clients[i].SendAsync("GET /metrics HTTP/1.1\r\nHo"); // half a head
                        break;
                    case 2:
                        await clients[i].SendAsync("GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n"); // a request, never read
                        break;
                    default:
                        clients[i].Socket.LingerState = new LingerOption(true, 0); // dropped with a reset
                        break;
                }
            }
            foreach (var c in clients)
                c.Dispose();
        }
        await MetricsServerFixture.EventuallyAsync(() => f.Server.ConnectionCount == 0, "all connections closed");
        await MetricsServerFixture.EventuallyAsync(() => MetricsServerFixture.OpenSocketsOnPort(f.Port) == 1, "only the listener left open");
        await f.AssertFreshScrapeAsync();
    }

    [Fact]
    public async Task Beyond_the_cap_the_longest_waiting_connection_makes_room_so_a_scrape_gets_in()
    {
        await using var f = new MetricsServerFixture();
        var idle = new List<RawHttpClient>();
        try
        {
            for (var i = 0; i < 100; i++)
                idle.Add(await RawHttpClient.ConnectAsync(f.Port));
            await MetricsServerFixture.EventuallyAsync(() => f.Server.ConnectionCount <= 64, "at most 64 open");
            await f.AssertFreshScrapeAsync();
            // The oldest were closed, the newest kept.
            Assert.True(await idle[0].ClosedWithinAsync(TimeSpan.FromSeconds(20)));
        }
        finally
        {
            idle.ForEach(c => c.Dispose());
        }
    }

    [Fact]
    public async Task Clients_that_never_read_are_dropped_at_the_write_timeout_and_busy_ones_are_not_evicted()
    {
        await using var f = new MetricsServerFixture(new MetricsServerLimits { MaxConnections = 4, WriteTimeout = TimeSpan.FromSeconds(3) });
        f.BodyBytes = 8 * 1024 * 1024; // far more than the socket buffers hold
        var stuck = new List<RawHttpClient>();
        try
        {
            for (var i = 0; i < 4; i++)
            {
                var c = await RawHttpClient.ConnectAsync(f.Port, receiveBuffer: 4096);
                await c.SendAsync("GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n");
                stuck.Add(c);
            }
            await MetricsServerFixture.EventuallyAsync(() => f.Scrapes == 4, "four scrapes rendered", then: () => $"scrapes {f.Scrapes}, open {f.Server.ConnectionCount}");
            Assert.Equal(4, f.Server.ConnectionCount);
            // All four are busy sending: a fifth connection is closed at once, none of theirs is.
            using (var fifth = await RawHttpClient.ConnectAsync(f.Port))
                Assert.True(await fifth.ClosedWithinAsync(TimeSpan.FromSeconds(20)));
            Assert.Equal(4, f.Scrapes);
            // They never read: each is dropped when its write timeout passes.
            await MetricsServerFixture.EventuallyAsync(() => f.Server.ConnectionCount == 0, "non-reading clients dropped");
            f.BodyBytes = 0;
            await f.AssertFreshScrapeAsync();
        }
        finally
        {
            stuck.ForEach(c => c.Dispose());
        }
    }

    [Fact]
    public async Task A_restarted_server_rebinds_its_port_at_once_while_the_old_connection_is_in_time_wait()
    {
        int port;
        var first = new MetricsServerFixture();
        port = first.Port;
        using (var c = await RawHttpClient.ConnectAsync(port))
        {
            await c.SendAsync("GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n");
            Assert.Equal(200, (await c.ReadResponseAsync())!.Status);
            await first.DisposeAsync(); // the server closes first: its side goes to TIME_WAIT
            Assert.True(await c.ClosedWithinAsync(TimeSpan.FromSeconds(20)));
        }
        await MetricsServerFixture.EventuallyAsync(() => MetricsServerFixture.TimeWaitOnPort(port), "a TIME_WAIT socket on the port");
        await using var second = new MetricsServer(MetricsAddress.Parse($"127.0.0.1:{port}"), w => w.Write("up 1\n"u8), () => true, NullLogger.Instance);
        second.Start();
        Assert.Equal(port, second.BoundPort);
        using var again = await RawHttpClient.ConnectAsync(port);
        await again.SendAsync("GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n");
        Assert.Equal("up 1\n", (await again.ReadResponseAsync())!.Body);
    }

    [Theory]
    [InlineData("127.0.0.1")]
    [InlineData("")]
    public async Task A_second_server_on_a_port_in_use_is_told_so(string host)
    {
        // Also proves only SO_REUSEADDR is set: with SO_REUSEPORT (what Socket.ReuseAddress sets on Linux) both would bind.
        // An explicit port, as the daemon binds: the kernel treats a port it picked itself (port 0) differently.
        await using var f = new MetricsServerFixture(address: $"127.0.0.1:{MetricsServerFixture.FreePort()}");
        await using var second = new MetricsServer(MetricsAddress.Parse($"{host}:{f.Port}"), _ => { }, () => true, NullLogger.Instance);
        var e = Assert.Throws<IOException>(second.Start);
        Assert.Equal($"metrics address {host}:{f.Port}: port in use (EADDRINUSE): another metagpu or exporter on this node? set --metrics-address", e.Message);
        await f.AssertFreshScrapeAsync();
    }

    [Fact]
    public async Task A_port_held_by_another_program_is_reported()
    {
        using var other = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        other.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        other.Listen();
        var port = ((IPEndPoint)other.LocalEndPoint!).Port;
        await using var s = new MetricsServer(MetricsAddress.Parse($"127.0.0.1:{port}"), _ => { }, () => true, NullLogger.Instance);
        var e = Assert.Throws<IOException>(s.Start);
        Assert.Contains("port in use (EADDRINUSE)", e.Message);
    }

    [Fact]
    public async Task An_address_not_on_this_node_is_reported()
    {
        await using var s = new MetricsServer(MetricsAddress.Parse("192.0.2.1:0"), _ => { }, () => true, NullLogger.Instance); // TEST-NET-1
        var e = Assert.Throws<IOException>(s.Start);
        Assert.Contains("EADDRNOTAVAIL", e.Message);
    }
}
