using System.Diagnostics;
using System.Globalization;
using MetaGpu.Proto.Health.V1;
using MetaGpu.Rpc.Grpc;

namespace MetaGpu.Bench;

/// <summary>
/// The published native binary as an edge node runs it: its size, and the resident memory of <c>metagpu serve</c>
/// holding one socket with no calls, then after calls; plus unary latency from our client to it.
/// </summary>
static class NativeFootprint
{
    public static async Task<bool> RunAsync(string binary, BenchOptions o)
    {
        var w = Console.Out;
        w.WriteLine();
        w.WriteLine($"native binary: {binary}");
        if (!File.Exists(binary))
        {
            w.WriteLine($"FAILED: no file at {binary} (publish first: dotnet publish -c Release -r linux-x64 -o out)");
            return false;
        }
        await using var daemon = await ServeProcess.StartAsync(binary, "mg-native-");
        var socket = daemon.Socket;
        if (!daemon.Ready)
        {
            w.WriteLine("FAILED: metagpu serve did not create its socket within 10 s");
            return false;
        }
        await Task.Delay(1000); // let start-up settle: this is the idle daemon
        var idle = daemon.StatusKiB("VmRSS:");

        using var channel = new UnixChannel(socket);
        var client = new Health.HealthClient(channel);
        var request = new HealthCheckRequest();
        for (var i = 0; i < o.Warmup; i++)
            await client.CheckAsync(request);
        var ticks = new long[o.Calls];
        for (var i = 0; i < ticks.Length; i++)
        {
            var t0 = Stopwatch.GetTimestamp();
            await client.CheckAsync(request);
            ticks[i] = Stopwatch.GetTimestamp() - t0;
        }
        var afterCalls = daemon.StatusKiB("VmRSS:");
        Array.Sort(ticks);
        double Us(long t) => t * 1_000_000.0 / Stopwatch.Frequency;

        var size = new FileInfo(binary).Length;
        w.WriteLine($"  size                                {size / 1_000_000.0,8:0.00} MB   (target: at most 5 MB)");
        w.WriteLine($"  resident, serving one socket, idle  {idle / 1024.0,8:0.0} MiB  (target: at most 12 MB)");
        w.WriteLine($"  resident after {o.Warmup + o.Calls} health checks    {afterCalls / 1024.0,8:0.0} MiB");
        w.WriteLine($"  our client -> native server, Health.Check: p50 {Us(ticks[ticks.Length / 2]):0.0} us, p99 {Us(ticks[(int)(ticks.Length * 0.99)]):0.0} us");
        Line("native", "binary_size", size, "bytes");
        Line("native", "rss_idle", idle, "KiB");
        Line("native", "rss_after_calls", afterCalls, "KiB");
        Line("native", "health_check_p50", Math.Round(Us(ticks[ticks.Length / 2]), 2), "us");
        return true;
    }

    static void Line(string config, string figure, double value, string unit) =>
        Console.Out.WriteLine(FormattableString.Invariant($"BENCH {{\"config\":\"{config}\",\"figure\":\"{figure}\",\"value\":{value},\"unit\":\"{unit}\"}}"));
}
