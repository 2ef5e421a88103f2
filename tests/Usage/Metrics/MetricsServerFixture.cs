using System.Buffers;
using System.Globalization;
using System.Net;
using MetaGpu.Usage.Metrics;
using Microsoft.Extensions.Logging.Abstractions;

namespace MetaGpu.Tests.Usage.Metrics;

/// <summary>A started <see cref="MetricsServer"/> on a free loopback port, with a body and a health the test controls.</summary>
internal sealed class MetricsServerFixture : IAsyncDisposable
{
    public MetricsServer Server { get; }
    public volatile bool Healthy = true;
    public volatile int BodyBytes;   // > 0: the body is this many bytes of filler instead of the sample families
    public volatile bool Fail;
    private int _scrapes;

    public int Scrapes => Volatile.Read(ref _scrapes);
    public int Port => Server.BoundPort;

    public MetricsServerFixture(MetricsServerLimits? limits = null, string address = "127.0.0.1:0")
    {
        Server = new MetricsServer(MetricsAddress.Parse(address), Write, () => Healthy, NullLogger.Instance, limits ?? new MetricsServerLimits());
        Server.Start();
    }

    public const string ExpectedBody =
        "# HELP metagpu_device_shares Meta-devices of the GPU.\n# TYPE metagpu_device_shares gauge\n" +
        "metagpu_device_shares{uuid=\"GPU-1\",device_index=\"0\"} 10\n";

    private void Write(IBufferWriter<byte> output)
    {
        Interlocked.Increment(ref _scrapes);
        if (Fail)
            throw new InvalidOperationException("renderer broke");
        var size = BodyBytes;
        if (size > 0)
        {
            while (size > 0)
            {
                var n = Math.Min(size, 4096);
                var span = output.GetSpan(n);
                span[..n].Fill((byte)'#');
                output.Advance(n);
                size -= n;
            }
            return;
        }
        var w = new PrometheusTextWriter(output);
        w.Family("metagpu_device_shares", "Meta-devices of the GPU.", MetricType.Gauge);
        w.Sample("metagpu_device_shares", [new("uuid", "GPU-1"), new("device_index", "0")], 10);
    }

    /// <summary>A fresh scrape with a fresh connection: what every hostile test checks afterwards.</summary>
    public async Task AssertFreshScrapeAsync()
    {
        using var client = await RawHttpClient.ConnectAsync(Port);
        await client.SendAsync("GET /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
        var r = await client.ReadResponseAsync();
        Assert.NotNull(r);
        Assert.Equal(200, r.Status);
        if (BodyBytes == 0)
            Assert.Equal(ExpectedBody, r.Body);
    }

    public static async Task EventuallyAsync(Func<bool> condition, string what, int seconds = 30, Func<string>? then = null)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
                Assert.Fail($"not within {seconds} s: {what}{(then is null ? "" : " (" + then() + ")")}");
            await Task.Delay(20);
        }
    }

    /// <summary>
    /// Open file descriptors of this process that are TCP sockets bound locally to <paramref name="port"/>: the
    /// server's listener and its accepted connections (a socket in TIME_WAIT has no descriptor and is not counted).
    /// </summary>
    public static int OpenSocketsOnPort(int port)
    {
        var inodes = new HashSet<string>(StringComparer.Ordinal);
        foreach (var table in new[] { "/proc/self/net/tcp", "/proc/self/net/tcp6" })
        {
            if (!File.Exists(table))
                continue;
            foreach (var line in File.ReadLines(table).Skip(1))
            {
                var f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                var local = f[1];
                if (int.Parse(local[(local.LastIndexOf(':') + 1)..], NumberStyles.HexNumber, CultureInfo.InvariantCulture) == port && f[9] != "0")
                    inodes.Add(f[9]);
            }
        }
        var count = 0;
        foreach (var fd in Directory.EnumerateFileSystemEntries("/proc/self/fd"))
        {
            try
            {
                var target = new FileInfo(fd).LinkTarget;
                if (target is not null && target.StartsWith("socket:[", StringComparison.Ordinal) && inodes.Contains(target[8..^1]))
                    count++;
            }
            catch (IOException)
            {
                // closed while we looked
            }
        }
        return count;
    }

    /// <summary>A port free at this moment (bound and released at once).</summary>
    public static int FreePort()
    {
        using var probe = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.InterNetwork, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
        probe.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)probe.LocalEndPoint!).Port;
    }

    /// <summary>Whether the kernel holds a TCP socket on local port <paramref name="port"/> in TIME_WAIT.</summary>
    public static bool TimeWaitOnPort(int port)
    {
        foreach (var table in new[] { "/proc/self/net/tcp", "/proc/self/net/tcp6" })
        {
            if (!File.Exists(table))
                continue;
            foreach (var line in File.ReadLines(table).Skip(1))
            {
                var f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                var local = f[1];
                if (int.Parse(local[(local.LastIndexOf(':') + 1)..], NumberStyles.HexNumber, CultureInfo.InvariantCulture) == port && f[3] == "06")
                    return true;
            }
        }
        return false;
    }

    public ValueTask DisposeAsync() => Server.DisposeAsync();
}
