using System.Buffers;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using MetaGpu.Usage.Metrics;
using Microsoft.Extensions.Logging.Abstractions;

namespace MetaGpu.Bench;

/// <summary>
/// <c>--scrape</c>: the cost of one <c>/metrics</c> scrape at 8 GPUs x 64 processes: rendering alone (into a reused
/// buffer), and a whole HTTP/1.1 scrape over loopback against <see cref="MetricsServer"/> with one kept-alive client.
/// Two bodies: one process family (about 600 samples, the issue's figure) and six (every per-process metric).
/// </summary>
public static class ScrapeBench
{
    const int Gpus = 8, ProcessesPerGpu = 64;

    sealed class Body(int processFamilies)
    {
        readonly Label[][] _gpu = Enumerable.Range(0, Gpus).Select(g => new Label[]
        {
            new("uuid", $"GPU-{g:x8}-5b6f-4f41-9f63-0123456789ab"), new("device_index", g.ToString(CultureInfo.InvariantCulture)), new("resource", "metagpu.io/gpu"),
        }).ToArray();
        readonly Label[][] _process = Enumerable.Range(0, Gpus * ProcessesPerGpu).Select(p => new Label[]
        {
            new("uuid", $"GPU-{p / ProcessesPerGpu:x8}-5b6f-4f41-9f63-0123456789ab"), new("device_index", (p / ProcessesPerGpu).ToString(CultureInfo.InvariantCulture)),
            new("resource", "metagpu.io/gpu"), new("namespace", $"team-{p % 7}"), new("pod", $"trainer-{p:x4}-7d9f8c6b5-x2x4z"),
            new("container", "main"), new("pid", (100000 + p * 37).ToString(CultureInfo.InvariantCulture)),
        }).ToArray();
        readonly Histogram[] _rpc = Enumerable.Range(0, 5).Select(_ =>
        {
            var h = new Histogram([0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1]);
            for (var i = 0; i < 1000; i++)
                h.Observe(i * 0.00001);
            return h;
        }).ToArray();
        static readonly string[] Methods = ["Allocate", "GetPreferredAllocation", "ListAndWatch", "GetDevicePluginOptions", "PreStartContainer"];
        static readonly string[] GpuFamilies = ["metagpu_device_shares", "metagpu_device_memory_total_bytes", "metagpu_device_memory_free_bytes", "metagpu_device_memory_used_bytes", "metagpu_device_memory_share_size_bytes"];
        static readonly string[] ProcessFamilies = ["metagpu_process_memory_usage_bytes", "metagpu_process_absolute_gpu_utilization_ratio", "metagpu_process_metagpu_requests", "metagpu_process_max_allowed_metagpu_memory_bytes", "metagpu_process_metagpu_relative_memory_utilization_ratio", "metagpu_process_metagpu_relative_gpu_utilization_ratio"];

        public int Samples => GpuFamilies.Length * Gpus + processFamilies * Gpus * ProcessesPerGpu + _rpc.Length * 15;

        public void Write(IBufferWriter<byte> output)
        {
            var w = new PrometheusTextWriter(output);
            for (var f = 0; f < GpuFamilies.Length; f++)
            {
                w.Family(GpuFamilies[f], "Per GPU.", MetricType.Gauge);
                for (var g = 0; g < Gpus; g++)
                    w.Sample(GpuFamilies[f], _gpu[g], 85899345920.0 / (f + 1));
            }
            for (var f = 0; f < processFamilies; f++)
            {
                w.Family(ProcessFamilies[f], "Per GPU process.", MetricType.Gauge);
                for (var p = 0; p < _process.Length; p++)
                    w.Sample(ProcessFamilies[f], _process[p], f % 2 == 0 ? 1073741824.0 + p : 0.01 * (p % 100));
            }
            w.Family("metagpu_plugin_rpc_duration_seconds", "Plugin RPC latency.", MetricType.Histogram);
            for (var m = 0; m < _rpc.Length; m++)
                _rpc[m].Write(w, "metagpu_plugin_rpc_duration_seconds", [new("method", Methods[m])]);
        }
    }

    static void Emit(string config, string figure, double value, string unit) =>
        Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"BENCH {{\"config\":\"{config}\",\"figure\":\"{figure}\",\"value\":{Math.Round(value, 3)},\"unit\":\"{unit}\"}}"));

    public static async Task<bool> RunAsync(int scrapes)
    {
        Console.Out.WriteLine($"scrape cost, {Gpus} GPUs x {ProcessesPerGpu} processes, {scrapes} scrapes each, {Environment.ProcessorCount} CPUs");
        foreach (var families in new[] { 1, 6 })
        {
            var body = new Body(families);
            var config = $"scrape-{body.Samples}-samples";
            // Rendering alone, into a buffer kept between scrapes (as the server does).
            var buffer = new ArrayBufferWriter<byte>(1 << 20);
            for (var i = 0; i < 200; i++)
            {
                buffer.ResetWrittenCount();
                body.Write(buffer);
            }
            var allocated = GC.GetAllocatedBytesForCurrentThread();
            var cpu = Process.GetCurrentProcess().TotalProcessorTime;
            var sw = Stopwatch.StartNew();
            for (var i = 0; i < scrapes; i++)
            {
                buffer.ResetWrittenCount();
                body.Write(buffer);
            }
            sw.Stop();
            var cpuUsed = Process.GetCurrentProcess().TotalProcessorTime - cpu;
            allocated = GC.GetAllocatedBytesForCurrentThread() - allocated;
            Emit(config, "body_bytes", buffer.WrittenCount, "bytes");
            Emit(config, "render_us", sw.Elapsed.TotalMicroseconds / scrapes, "us");
            Emit(config, "render_cpu_us", cpuUsed.TotalMicroseconds / scrapes, "us");
            Emit(config, "render_alloc", (double)allocated / scrapes, "bytes");

            var (p50, p99, cpuUs, alloc) = await HttpScrapesAsync(body.Write, scrapes);
            Emit(config, "http_scrape_p50_us", p50, "us");
            Emit(config, "http_scrape_p99_us", p99, "us");
            Emit(config, "http_scrape_cpu_us", cpuUs, "us");
            Emit(config, "http_scrape_alloc", alloc, "bytes");
        }

        // Histogram.Observe: one thread, and every core at once on one histogram (the CAS on the sum contended).
        var histogram = new Histogram([0.0001, 0.001, 0.01, 0.1, 1]);
        const int observations = 5_000_000;
        var single = Stopwatch.StartNew();
        for (var i = 0; i < observations; i++)
            histogram.Observe(i * 1e-7);
        Emit("histogram", "observe_ns_one_thread", single.Elapsed.TotalNanoseconds / observations, "ns");
        var threads = Math.Max(2, Environment.ProcessorCount);
        var contended = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, threads).Select(_ => Task.Factory.StartNew(() =>
        {
            for (var i = 0; i < observations / threads; i++)
                histogram.Observe(i * 1e-7);
        }, TaskCreationOptions.LongRunning)));
        Emit("histogram", $"observe_ns_{threads}_threads", contended.Elapsed.TotalNanoseconds / (observations / threads * threads), "ns (wall per observation)");
        return histogram.Count == observations + observations / threads * threads;
    }

    /// <summary>
    /// Whole scrapes over loopback against <see cref="MetricsServer"/> serving <paramref name="write"/>, one
    /// kept-alive raw client reading each response: p50 and p99 wall time, and CPU and bytes allocated per scrape
    /// (server and client together, all of this process).
    /// </summary>
    public static async Task<(double P50Us, double P99Us, double CpuUs, double Allocated)> HttpScrapesAsync(Action<IBufferWriter<byte>> write, int scrapes)
    {
        // Whole scrapes over loopback: our server, one kept-alive raw client reading each response.
        await using var server = new MetricsServer(MetricsAddress.Parse("127.0.0.1:0"), write, () => true, NullLogger.Instance);
        server.Start();
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await client.ConnectAsync(new IPEndPoint(IPAddress.Loopback, server.BoundPort));
        var request = Encoding.ASCII.GetBytes("GET /metrics HTTP/1.1\r\nHost: bench\r\n\r\n");
        var input = new byte[4 << 20];
        async Task<int> ScrapeAsync()
        {
            await client.SendAsync(request, SocketFlags.None);
            var filled = 0;
            int headEnd = -1, length = -1;
            while (true)
            {
                var n = await client.ReceiveAsync(input.AsMemory(filled), SocketFlags.None);
                if (n == 0)
                    throw new IOException("the server closed the connection");
                filled += n;
                if (headEnd < 0 && (headEnd = input.AsSpan(0, filled).IndexOf("\r\n\r\n"u8)) >= 0)
                {
                    var head = Encoding.ASCII.GetString(input, 0, headEnd);
                    if (!head.StartsWith("HTTP/1.1 200 ", StringComparison.Ordinal))
                        throw new IOException($"unexpected answer: {head}");
                    var at = head.IndexOf("Content-Length: ", StringComparison.Ordinal) + 16;
                    var stop = head.IndexOf('\r', at);
                    length = int.Parse(head.AsSpan(at, (stop < 0 ? head.Length : stop) - at), CultureInfo.InvariantCulture);
                    headEnd += 4;
                }
                if (headEnd >= 0 && filled >= headEnd + length)
                    return length;
            }
        }
        for (var i = 0; i < 200; i++)
            await ScrapeAsync();
        var totalAllocated = GC.GetTotalAllocatedBytes(precise: true);
        var cpu = Process.GetCurrentProcess().TotalProcessorTime;
        var times = new double[scrapes];
        var total = Stopwatch.StartNew();
        for (var i = 0; i < scrapes; i++)
        {
            var t = Stopwatch.GetTimestamp();
            await ScrapeAsync();
            times[i] = Stopwatch.GetElapsedTime(t).TotalMicroseconds;
        }
        total.Stop();
        var cpuUsed = Process.GetCurrentProcess().TotalProcessorTime - cpu;
        totalAllocated = GC.GetTotalAllocatedBytes(precise: true) - totalAllocated;
        Array.Sort(times);
        return (times[scrapes / 2], times[scrapes * 99 / 100], cpuUsed.TotalMicroseconds / scrapes, (double)totalAllocated / scrapes);
    }

    /// <summary>
    /// The server's side alone: <paramref name="scrapes"/> GET /metrics by one curl process (one kept-alive
    /// connection, its CPU not ours), and the CPU this process spent per scrape: rendering, writing, the socket.
    /// Null when curl is not installed.
    /// </summary>
    public static async Task<(double User, double System)?> ServerCpuPerScrapeAsync(Action<IBufferWriter<byte>> write, int scrapes)
    {
        await using var server = new MetricsServer(MetricsAddress.Parse("127.0.0.1:0"), write, () => true, NullLogger.Instance);
        server.Start();
        var url = $"http://127.0.0.1:{server.BoundPort}/metrics";
        var config = Path.GetTempFileName();
        try
        {
            await File.WriteAllLinesAsync(config, Enumerable.Range(0, scrapes).Select(_ => $"url = \"{url}\"\noutput = \"/dev/null\""));
            var me = Process.GetCurrentProcess();
            var (user, system) = (me.UserProcessorTime, me.PrivilegedProcessorTime);
            Process curl;
            try
            {
                curl = Process.Start(new ProcessStartInfo("curl", ["-s", "--fail", "--config", config]) { UseShellExecute = false })!;
            }
            catch (System.ComponentModel.Win32Exception)
            {
                return null;
            }
            using (curl)
            {
                await curl.WaitForExitAsync();
                if (curl.ExitCode != 0)
                    throw new IOException($"curl exited {curl.ExitCode}");
            }
            me.Refresh();
            return ((me.UserProcessorTime - user).TotalMicroseconds / scrapes, (me.PrivilegedProcessorTime - system).TotalMicroseconds / scrapes);
        }
        finally
        {
            File.Delete(config);
        }
    }
}
