using System.Buffers;
using System.Globalization;
using MetaGpu.Usage.Enforcement;
using MetaGpu.Usage.Workload;

namespace MetaGpu.Usage.Metrics;

/// <summary>
/// The daemon's /metrics: device, container and process families from the latest <see cref="WorkloadView"/>, plus
/// the daemon's own counters. The original MetaGPU's names are kept (and so are its units: memory in MiB) except where
/// Prometheus's rules reject them; docs/usage.md lists every family and the one rename.
/// </summary>
public sealed class UsageMetrics(Func<WorkloadView> view, EnforcementCounters enforcement, DaemonCounters daemon)
{
    private const double MiB = 1024 * 1024;

    public void Write(IBufferWriter<byte> output)
    {
        var w = new PrometheusTextWriter(output);
        var v = view();
        WriteDevices(w, v);
        WriteContainers(w, v);
        WriteProcesses(w, v);
        WriteDaemon(w, v);
    }

    private static void WriteDevices(PrometheusTextWriter w, WorkloadView v)
    {
        w.Family("metagpu_device_shares", "Meta-devices the GPU is split into, per resource.", MetricType.Gauge);
        foreach (var g in v.Gpus)
        {
            foreach (var s in g.Shares)
                w.Sample("metagpu_device_shares", [new("uuid", g.Uuid), new("device_index", Index(g.Index)), new("resource", s.Resource)], s.MetaGpus);
        }
        w.Family("metagpu_device_memory_share_size", "GPU memory of one meta-device, in MiB.", MetricType.Gauge);
        foreach (var g in v.Gpus)
        {
            foreach (var s in g.Shares)
                w.Sample("metagpu_device_memory_share_size", [new("uuid", g.Uuid), new("device_index", Index(g.Index)), new("resource", s.Resource)], s.ShareMemoryMiB);
        }
        // The original's metagpu_device_memory_total (MiB): a gauge may not end in _total, so this one is in bytes with the unit.
        w.Family("metagpu_device_memory_total_bytes", "Total GPU memory, in bytes.", MetricType.Gauge);
        foreach (var g in v.Gpus)
            w.Sample("metagpu_device_memory_total_bytes", [new("uuid", g.Uuid), new("device_index", Index(g.Index))], g.MemoryTotalBytes);
        w.Family("metagpu_device_memory_free", "Free GPU memory, in MiB.", MetricType.Gauge);
        foreach (var g in v.Gpus)
            w.Sample("metagpu_device_memory_free", [new("uuid", g.Uuid), new("device_index", Index(g.Index))], Math.Floor(g.MemoryFreeBytes / MiB));
        w.Family("metagpu_device_memory_used", "Used GPU memory, in MiB.", MetricType.Gauge);
        foreach (var g in v.Gpus)
            w.Sample("metagpu_device_memory_used", [new("uuid", g.Uuid), new("device_index", Index(g.Index))], Math.Floor(g.MemoryUsedBytes / MiB));
        w.Family("metagpu_device_gpu_utilization", "GPU utilisation over the driver's last sample period, in percent.", MetricType.Gauge);
        foreach (var g in v.Gpus)
        {
            if (g.UtilizationPercent is { } u)
                w.Sample("metagpu_device_gpu_utilization", [new("uuid", g.Uuid), new("device_index", Index(g.Index))], u);
        }
    }

    private static void WriteContainers(PrometheusTextWriter w, WorkloadView v)
    {
        w.Family("metagpu_container_memory_allowed_bytes", "GPU memory a container's allocation is allowed on a GPU, in bytes.", MetricType.Gauge);
        var perGpu = v.Containers.SelectMany(c => c.Gpus.Select(g => (G: g, L: ContainerLabels(c, g.Uuid, g.Index)))).ToList();
        foreach (var (g, l) in perGpu)
            w.Sample("metagpu_container_memory_allowed_bytes", l, g.MemoryAllowedBytes);
        w.Family("metagpu_container_memory_used_bytes", "GPU memory a container's processes use on a GPU, in bytes.", MetricType.Gauge);
        foreach (var (g, l) in perGpu)
            w.Sample("metagpu_container_memory_used_bytes", l, g.MemoryUsedBytes);
        w.Family("metagpu_container_metagpu_requests", "Meta-devices a container was given.", MetricType.Gauge);
        foreach (var c in v.Containers)
            w.Sample("metagpu_container_metagpu_requests", [new("resource", c.Resource), new("namespace", c.Namespace), new("pod", c.Pod), new("container", c.Container)], c.Request);
    }

    private static void WriteProcesses(PrometheusTextWriter w, WorkloadView v)
    {
        // Each process's labels are made once per scrape and shared by its seven families.
        var rows = new List<(GpuProcessUsage P, ContainerUsage? C, ContainerGpu? G, Label[] L)>(v.Unallocated.Count + v.Containers.Sum(c => c.Processes.Count));
        foreach (var c in v.Containers)
        {
            foreach (var p in c.Processes)
                rows.Add((p, c, GpuOf(c, p.GpuUuid), ProcessLabels(p, c)));
        }
        foreach (var p in v.Unallocated)
            rows.Add((p, null, null, ProcessLabels(p, null)));

        w.Family("metagpu_process_memory_usage", "GPU memory a process uses, in MiB.", MetricType.Gauge);
        foreach (var (p, c, _, l) in rows)
        {
            if (p.MemoryUsedBytes is { } used)
                w.Sample("metagpu_process_memory_usage", l, Math.Floor(used / MiB));
        }
        w.Family("metagpu_process_absolute_gpu_utilization", "SM utilisation of a process on the whole GPU, in percent.", MetricType.Gauge);
        foreach (var (p, c, _, l) in rows)
        {
            if (p.SmPercent is { } sm)
                w.Sample("metagpu_process_absolute_gpu_utilization", l, sm);
        }
        w.Family("metagpu_process_metagpu_requests", "Meta-devices the process's container was given.", MetricType.Gauge);
        foreach (var (p, c, _, l) in rows)
        {
            if (c is not null)
                w.Sample("metagpu_process_metagpu_requests", l, c.Request);
        }
        w.Family("metagpu_process_max_allowed_metagpu_memory", "GPU memory the process's container is allowed on this GPU, in MiB.", MetricType.Gauge);
        foreach (var (p, c, g, l) in rows)
        {
            if (c is not null && g is not null)
                w.Sample("metagpu_process_max_allowed_metagpu_memory", l, g.MemoryAllowedBytes >> 20);
        }
        w.Family("metagpu_process_max_allowed_metagpu_gpu_utilization", "The share of this GPU the process's container was given, in percent.", MetricType.Gauge);
        foreach (var (p, c, g, l) in rows)
        {
            if (c is not null && g is not null)
                w.Sample("metagpu_process_max_allowed_metagpu_gpu_utilization", l, g.SharePercent);
        }
        w.Family("metagpu_process_metagpu_relative_memory_utilization", "GPU memory a process uses as a percentage of what its container is allowed on this GPU.", MetricType.Gauge);
        foreach (var (p, c, g, l) in rows)
        {
            if (c is not null && g is { MemoryAllowedBytes: > 0 } && p.MemoryUsedBytes is { } used)
                w.Sample("metagpu_process_metagpu_relative_memory_utilization", l, 100.0 * used / g.MemoryAllowedBytes);
        }
        w.Family("metagpu_process_metagpu_relative_gpu_utilization", "SM utilisation of a process as a percentage of its container's share of the GPU.", MetricType.Gauge);
        foreach (var (p, c, g, l) in rows)
        {
            if (c is not null && g is { SharePercent: > 0 } && p.SmPercent is { } sm)
                w.Sample("metagpu_process_metagpu_relative_gpu_utilization", l, 100.0 * sm / g.SharePercent);
        }
    }

    private void WriteDaemon(PrometheusTextWriter w, WorkloadView v)
    {
        w.Family("metagpu_enforcement_actions_total", "Memory-enforcement actions since start: report (an allocation went over its limit), kill, gone (exited before the kill), skip_reused (pid reused, not signalled), kill_failed.", MetricType.Counter);
        foreach (var action in EnforcementCounters.Actions)
            w.Sample("metagpu_enforcement_actions_total", [new("action", action)], enforcement[action]);
        w.Family("metagpu_kubelet_registrations_total", "Registrations with the kubelet since start, per resource (more than one: the kubelet restarted).", MetricType.Counter);
        foreach (var (resource, count) in daemon.Registrations())
            w.Sample("metagpu_kubelet_registrations_total", [new("resource", resource)], count);
        w.Family("metagpu_plugin_rpc_duration_seconds", "Time the device plugin took to answer the kubelet's calls, per resource and method.", MetricType.Histogram);
        foreach (var (resource, method, histogram) in daemon.RpcLatencies())
            histogram.Write(w, "metagpu_plugin_rpc_duration_seconds", [new("resource", resource), new("method", method)]);
        w.Family("metagpu_pod_resources_available", "1 when the kubelet's pod-resources service answered the last refresh, else 0 (pods are then unnamed).", MetricType.Gauge);
        w.Sample("metagpu_pod_resources_available", [], v.PodResourcesAvailable ? 1 : 0);
        w.Family("metagpu_usage_refresh_duration_seconds", "How long the last usage refresh took.", MetricType.Gauge);
        w.Sample("metagpu_usage_refresh_duration_seconds", [], daemon.LastRefreshCost().TotalSeconds);
    }

    private static ContainerGpu? GpuOf(ContainerUsage c, string uuid)
    {
        foreach (var g in c.Gpus)
        {
            if (g.Uuid == uuid)
                return g;
        }
        return null;
    }

    private static Label[] ContainerLabels(ContainerUsage c, string uuid, int index) =>
        [new("uuid", uuid), new("device_index", Index(index)), new("resource", c.Resource), new("namespace", c.Namespace), new("pod", c.Pod), new("container", c.Container)];

    private static Label[] ProcessLabels(GpuProcessUsage p, ContainerUsage? c) =>
        [new("uuid", p.GpuUuid), new("device_index", Index(p.GpuIndex)), new("resource", c?.Resource ?? ""), new("namespace", c?.Namespace ?? ""),
         new("pod", c?.Pod ?? ""), new("container", c?.Container ?? ""), new("pid", p.Pid.ToString(CultureInfo.InvariantCulture))];

    private static string Index(int index) => index.ToString(CultureInfo.InvariantCulture);
}
