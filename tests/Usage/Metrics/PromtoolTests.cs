using System.Buffers;
using MetaGpu.Tests.Support;
using MetaGpu.Usage.Metrics;

namespace MetaGpu.Tests.Usage.Metrics;

/// <summary>
/// Prometheus's own checker (<c>promtool check metrics</c>, Debian package prometheus) reads what the writer
/// produces. It must accept a realistic exposition and reject what Prometheus's rules reject, so the check is live.
/// </summary>
public class PromtoolTests
{
    private static (int Exit, string Output) Check(Action<PrometheusTextWriter> write)
    {
        var buffer = new ArrayBufferWriter<byte>();
        write(new PrometheusTextWriter(buffer));
        return Promtool.CheckMetrics(buffer.WrittenSpan);
    }

    internal static void Realistic(PrometheusTextWriter w)
    {
        var gpus = new[] { ("GPU-8c3e5f7a-1b2d-4e6f-9a0b-1c2d3e4f5a6b", "0"), ("GPU-0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0", "1") };
        w.Family("metagpu_device_shares", "Meta-devices each GPU is split into.", MetricType.Gauge);
        foreach (var (uuid, index) in gpus)
            w.Sample("metagpu_device_shares", [new("uuid", uuid), new("device_index", index), new("resource", "metagpu.io/gpu")], 10);
        w.Family("metagpu_device_memory_total_bytes", "GPU memory in total.", MetricType.Gauge);
        foreach (var (uuid, index) in gpus)
            w.Sample("metagpu_device_memory_total_bytes", [new("uuid", uuid), new("device_index", index)], 85899345920);
        w.Family("metagpu_process_memory_usage_bytes", "GPU memory a process uses.", MetricType.Gauge);
        w.Sample("metagpu_process_memory_usage_bytes",
        [
            new("uuid", gpus[0].Item1), new("device_index", "0"), new("resource", "metagpu.io/gpu"), new("namespace", "team-a"),
            new("pod", "trainer-0"), new("container", "main \"quoted\" \\ back\nslash"), new("pid", "4242"),
        ], 2147483648);
        w.Sample("metagpu_process_memory_usage_bytes",
        [
            new("uuid", gpus[1].Item1), new("device_index", "1"), new("resource", ""), new("namespace", ""),
            new("pod", ""), new("container", ""), new("pid", "77"),
        ], 1.5e9);
        w.Family("metagpu_process_relative_gpu_utilization_ratio", "Share of the allowed GPU a process uses.", MetricType.Gauge);
        w.Sample("metagpu_process_relative_gpu_utilization_ratio", [new("pid", "4242")], 0.3333333333333333);
        w.Sample("metagpu_process_relative_gpu_utilization_ratio", [new("pid", "77")], double.NaN);
        w.Family("metagpu_enforcement_actions_total", "Enforcement actions, by kind.", MetricType.Counter);
        w.Sample("metagpu_enforcement_actions_total", [new("action", "report")], 3);
        w.Sample("metagpu_enforcement_actions_total", [new("action", "kill")], 0);
        w.Family("metagpu_kubelet_registrations_total", "Registrations with the kubelet.\nA second line, and a \\.", MetricType.Counter);
        w.Sample("metagpu_kubelet_registrations_total", [new("resource", "metagpu.io/gpu")], 1);
        w.Family("metagpu_plugin_rpc_duration_seconds", "Latency of the device plugin's RPCs.", MetricType.Histogram);
        var h = new Histogram([0.0001, 0.001, 0.01, 0.1, 1, 10]);
        foreach (var v in new[] { 0.00005, 0.0004, 0.003, 0.003, 0.2, 30 })
            h.Observe(v);
        h.Write(w, "metagpu_plugin_rpc_duration_seconds", [new("method", "Allocate")]);
        new Histogram([0.0001, 0.001]).Write(w, "metagpu_plugin_rpc_duration_seconds", [new("method", "ListAndWatch")]);
    }

    [Fact]
    public void Promtool_accepts_a_realistic_exposition()
    {
        var (exit, output) = Check(Realistic);
        Assert.True(exit == 0, $"promtool check metrics exited {exit}: {output}");
        Assert.Equal("", output.Trim());
    }

    [Fact]
    public void Promtool_rejects_a_gauge_ending_in_total_so_the_check_is_live()
    {
        var (exit, output) = Check(w =>
        {
            w.Family("metagpu_device_memory_total", "The original's name.", MetricType.Gauge);
            w.Sample("metagpu_device_memory_total", [new("uuid", "GPU-1")], 1);
        });
        Assert.NotEqual(0, exit);
        Assert.Contains("_total", output);
    }

    [Fact]
    public void Promtool_rejects_a_counter_without_total()
    {
        var (exit, output) = Check(w =>
        {
            w.Family("metagpu_kills", "Kills.", MetricType.Counter);
            w.Sample("metagpu_kills", [], 1);
        });
        Assert.NotEqual(0, exit);
        Assert.Contains("_total", output);
    }
}
