using System.Globalization;
using PluginClient = MetaGpu.Proto.DevicePlugin.V1Beta1.DevicePlugin.DevicePluginClient;

namespace MetaGpu.Bench;

/// <summary>
/// The kubelet benchmark's second driver: the latency loops of kubeletsim, made from Grpc.Net.Client on one HTTP/2
/// connection to each plugin's socket, while <c>kubeletsim -hold</c> keeps the plugin registered. Launches alternate
/// between the plugins; latencies are pooled over a plugin's launches.
/// </summary>
static class KubeletGrpcNetDriver
{
    public static async Task<bool> RunAsync(string kubeletsim, KubeletPlugin[] plugins, BenchOptions o, List<KubeletFigure> figures)
    {
        var loops = KubeletCalls.Split(o.KubeletCalls);
        Console.Out.WriteLine();
        Console.Out.WriteLine($"Grpc.Net.Client driver: {o.GrpcNetLaunches} launch(es) each, {loops.Sum(l => l.Warmup + l.C1 + l.CN)} calls per launch, " +
            $"split as kubeletsim's, {KubeletCalls.Concurrency} in flight");
        var latencies = plugins.ToDictionary(p => p.Name, _ => new Dictionary<string, List<double>>());
        var ok = true;
        for (var round = 0; round < o.GrpcNetLaunches; round++)
        {
            foreach (var plugin in round % 2 == 0 ? plugins : plugins.Reverse())
            {
                try
                {
                    await MeasureAsync(kubeletsim, plugin, loops, o, latencies[plugin.Name]);
                    Console.Out.WriteLine($"{plugin.Name} launch {round + 1}: done");
                }
                catch (Exception e)
                {
                    ok = false;
                    Console.Out.WriteLine($"FAILED {plugin.Name} launch {round + 1} (grpcnet driver): {e.GetType().Name}: {e.Message}");
                }
            }
        }
        foreach (var plugin in plugins)
        {
            foreach (var (key, values) in latencies[plugin.Name])
            {
                var (p50, p99, mean) = KubeletCalls.Summarize(values);
                foreach (var (suffix, value) in new[] { ("p50", p50), ("p99", p99), ("mean", mean) })
                {
                    var figure = new KubeletFigure(plugin.Name, KubeletBench.GrpcNetDriver, $"{key}_{suffix}", Math.Round(value, 2), "us");
                    figures.Add(figure);
                    KubeletReport.WriteLine(figure);
                }
            }
        }
        return ok;
    }

    static async Task MeasureAsync(string kubeletsim, KubeletPlugin plugin, KubeletLoop[] loops, BenchOptions o, Dictionary<string, List<double>> into)
    {
        var measured = new Dictionary<string, double[]>();
        var held = await KubeletHeldPlugin.StartAsync(kubeletsim, plugin, o.PhaseTimeout);
        await using (held)
        {
            using var channel = BenchClient.GrpcNetChannel(held.Socket);
            using var cts = new CancellationTokenSource(o.PhaseTimeout);
            var calls = await KubeletCalls.CreateAsync(new PluginClient(channel), cts.Token);
            foreach (var l in loops)
                await calls.RunAsync(l.Name, l.Warmup, 1, cts.Token);
            foreach (var concurrency in new[] { 1, KubeletCalls.Concurrency })
            {
                foreach (var l in loops)
                    measured[string.Create(CultureInfo.InvariantCulture, $"{l.Name}_c{concurrency}")] = await calls.RunAsync(l.Name, concurrency == 1 ? l.C1 : l.CN, concurrency, cts.Token);
            }
        }
        if (!held.StreamStayedOpen)
            throw new InvalidOperationException("the kubelet's ListAndWatch did not stay open while Grpc.Net.Client called (see kubeletsim's message above)");
        // Only a launch that went well counts.
        foreach (var (key, values) in measured)
        {
            if (!into.TryGetValue(key, out var list))
                into[key] = list = [];
            list.AddRange(values);
        }
    }
}
