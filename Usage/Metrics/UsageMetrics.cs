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

    private static readonly LabelSet[] ActionLabels = Array.ConvertAll(EnforcementCounters.Actions, a => LabelSet.Of([new("action", a)]));

    // The label sets of the latest view scraped: made on the first scrape of a view, reused by later scrapes of it.
    private Series? _series;

    public void Write(IBufferWriter<byte> output)
    {
        var w = new PrometheusTextWriter(output);
        var v = view();
        var series = Volatile.Read(ref _series);
        if (series is null || !ReferenceEquals(series.View, v))
        {
            // Two scrapes at once may both make them; either result is right.
            series = new Series(v, series);
            Volatile.Write(ref _series, series);
        }
        WriteDevices(w, series);
        WriteContainers(w, series);
        WriteProcesses(w, series);
        WriteDaemon(w, v);
    }

    /// <summary>
    /// One view's samples with their labels: every label value escaped and encoded once per view, not per family,
    /// and a process's label set carried over from the previous view when its labels did not change (most processes
    /// outlive many refreshes), so a scrape after a refresh costs little more than a scrape of the same view.
    /// </summary>
    private sealed class Series
    {
        // Process rows by (pid, GPU index) and container rows by allocation key, to find them again in the next view.
        private readonly Dictionary<(int Pid, int Gpu), int> _processRows;
        private readonly Dictionary<string, int> _containerRows;
        // Where each container's GPUs start in ContainerGpus.
        private readonly int[] _containerGpuStart;

        public readonly WorkloadView View;
        public readonly (GpuUsage Gpu, LabelSet Labels)[] Gpus;
        public readonly (ResourceSplit Share, LabelSet Labels)[] Shares;
        public readonly (ContainerGpu Gpu, LabelSet Labels)[] ContainerGpus;
        public readonly (ContainerUsage Container, LabelSet Labels)[] Containers;
        public readonly (GpuProcessUsage Process, ContainerUsage? Container, ContainerGpu? Gpu, LabelSet Labels)[] Processes;

        public Series(WorkloadView v, Series? previous)
        {
            View = v;
            Gpus = new (GpuUsage, LabelSet)[v.Gpus.Count];
            var shares = 0;
            for (var i = 0; i < v.Gpus.Count; i++)
            {
                var g = v.Gpus[i];
                Gpus[i] = (g, LabelSet.Of([new("uuid", g.Uuid), new("device_index", Index(g.Index))]));
                shares += g.Shares.Count;
            }
            Shares = new (ResourceSplit, LabelSet)[shares];
            shares = 0;
            foreach (var g in v.Gpus)
            {
                foreach (var share in g.Shares)
                    Shares[shares++] = (share, LabelSet.Of([new("uuid", g.Uuid), new("device_index", Index(g.Index)), new("resource", share.Resource)]));
            }

            Containers = new (ContainerUsage, LabelSet)[v.Containers.Count];
            _containerGpuStart = new int[v.Containers.Count];
            int containerGpus = 0, processes = v.Unallocated.Count;
            for (var i = 0; i < v.Containers.Count; i++)
            {
                _containerGpuStart[i] = containerGpus;
                containerGpus += v.Containers[i].Gpus.Count;
                processes += v.Containers[i].Processes.Count;
            }
            ContainerGpus = new (ContainerGpu, LabelSet)[containerGpus];
            Processes = new (GpuProcessUsage, ContainerUsage?, ContainerGpu?, LabelSet)[processes];
            _containerRows = new Dictionary<string, int>(v.Containers.Count, StringComparer.Ordinal);
            processes = 0;
            for (var i = 0; i < v.Containers.Count; i++)
            {
                var c = v.Containers[i];
                _containerRows.TryAdd(c.AllocationKey, i);
                var old = previous?.SameContainer(c);
                Containers[i] = (c, old is { } o ? previous!.Containers[o].Labels
                    : LabelSet.Of([new("resource", c.Resource), new("namespace", c.Namespace), new("pod", c.Pod), new("container", c.Container)]));
                for (var k = 0; k < c.Gpus.Count; k++)
                {
                    var g = c.Gpus[k];
                    ContainerGpus[_containerGpuStart[i] + k] = (g, old is { } r && previous!.GpuLabelsOf(r, g) is { } same ? same
                        : LabelSet.Of([new("uuid", g.Uuid), new("device_index", Index(g.Index)), new("resource", c.Resource),
                            new("namespace", c.Namespace), new("pod", c.Pod), new("container", c.Container)]));
                }
                foreach (var p in c.Processes)
                    Processes[processes++] = (p, c, GpuOf(c, p.GpuUuid), previous?.LabelsOf(p, c) ?? ProcessLabels(p, c));
            }
            foreach (var p in v.Unallocated)
                Processes[processes++] = (p, null, null, previous?.LabelsOf(p, null) ?? ProcessLabels(p, null));
            _processRows = new Dictionary<(int, int), int>(Processes.Length);
            for (var i = 0; i < Processes.Length; i++)
                _processRows.TryAdd((Processes[i].Process.Pid, Processes[i].Process.GpuIndex), i);
        }

        /// <summary>The row of the same allocation with the same pod labels in this series, else null.</summary>
        private int? SameContainer(ContainerUsage c) =>
            _containerRows.TryGetValue(c.AllocationKey, out var i) && Containers[i].Container is var old
                && old.Resource == c.Resource && old.Namespace == c.Namespace && old.Pod == c.Pod && old.Container == c.Container
                ? i
                : null;

        /// <summary>The label set of the same GPU of container row <paramref name="row"/>, else null.</summary>
        private LabelSet? GpuLabelsOf(int row, ContainerGpu g)
        {
            var end = row + 1 < _containerGpuStart.Length ? _containerGpuStart[row + 1] : ContainerGpus.Length;
            for (var i = _containerGpuStart[row]; i < end; i++)
            {
                if (ContainerGpus[i].Gpu.Uuid == g.Uuid && ContainerGpus[i].Gpu.Index == g.Index)
                    return ContainerGpus[i].Labels;
            }
            return null;
        }

        /// <summary>The label set this series has for the same process with the same labels, else null.</summary>
        private LabelSet? LabelsOf(GpuProcessUsage p, ContainerUsage? c)
        {
            if (!_processRows.TryGetValue((p.Pid, p.GpuIndex), out var i))
                return null;
            var (old, oldContainer, _, labels) = Processes[i];
            return old.GpuUuid == p.GpuUuid
                && (oldContainer?.Resource ?? "") == (c?.Resource ?? "") && (oldContainer?.Namespace ?? "") == (c?.Namespace ?? "")
                && (oldContainer?.Pod ?? "") == (c?.Pod ?? "") && (oldContainer?.Container ?? "") == (c?.Container ?? "")
                ? labels
                : null;
        }
    }

    private static void WriteDevices(PrometheusTextWriter w, Series s)
    {
        w.Family("metagpu_device_shares", "Meta-devices the GPU is split into, per resource.", MetricType.Gauge);
        foreach (var (share, l) in s.Shares)
            w.Sample("metagpu_device_shares", l, share.MetaGpus);
        w.Family("metagpu_device_memory_share_size", "GPU memory of one meta-device, in MiB.", MetricType.Gauge);
        foreach (var (share, l) in s.Shares)
            w.Sample("metagpu_device_memory_share_size", l, share.ShareMemoryMiB);
        // The original's metagpu_device_memory_total (MiB): a gauge may not end in _total, so this one is in bytes with the unit.
        w.Family("metagpu_device_memory_total_bytes", "Total GPU memory, in bytes.", MetricType.Gauge);
        foreach (var (g, l) in s.Gpus)
            w.Sample("metagpu_device_memory_total_bytes", l, g.MemoryTotalBytes);
        w.Family("metagpu_device_memory_free", "Free GPU memory, in MiB.", MetricType.Gauge);
        foreach (var (g, l) in s.Gpus)
            w.Sample("metagpu_device_memory_free", l, Math.Floor(g.MemoryFreeBytes / MiB));
        w.Family("metagpu_device_memory_used", "Used GPU memory, in MiB.", MetricType.Gauge);
        foreach (var (g, l) in s.Gpus)
            w.Sample("metagpu_device_memory_used", l, Math.Floor(g.MemoryUsedBytes / MiB));
        w.Family("metagpu_device_gpu_utilization", "GPU utilisation over the driver's last sample period, in percent.", MetricType.Gauge);
        foreach (var (g, l) in s.Gpus)
        {
            if (g.UtilizationPercent is { } u)
                w.Sample("metagpu_device_gpu_utilization", l, u);
        }
    }

    private static void WriteContainers(PrometheusTextWriter w, Series s)
    {
        w.Family("metagpu_container_memory_allowed_bytes", "GPU memory a container's allocation is allowed on a GPU, in bytes.", MetricType.Gauge);
        foreach (var (g, l) in s.ContainerGpus)
            w.Sample("metagpu_container_memory_allowed_bytes", l, g.MemoryAllowedBytes);
        w.Family("metagpu_container_memory_used_bytes", "GPU memory a container's processes use on a GPU, in bytes.", MetricType.Gauge);
        foreach (var (g, l) in s.ContainerGpus)
            w.Sample("metagpu_container_memory_used_bytes", l, g.MemoryUsedBytes);
        w.Family("metagpu_container_metagpu_requests", "Meta-devices a container was given.", MetricType.Gauge);
        foreach (var (c, l) in s.Containers)
            w.Sample("metagpu_container_metagpu_requests", l, c.Request);
    }

    private static void WriteProcesses(PrometheusTextWriter w, Series s)
    {
        var rows = s.Processes;
        w.Family("metagpu_process_memory_usage", "GPU memory a process uses, in MiB.", MetricType.Gauge);
        foreach (var (p, _, _, l) in rows)
        {
            if (p.MemoryUsedBytes is { } used)
                w.Sample("metagpu_process_memory_usage", l, Math.Floor(used / MiB));
        }
        w.Family("metagpu_process_absolute_gpu_utilization", "SM utilisation of a process on the whole GPU, in percent.", MetricType.Gauge);
        foreach (var (p, _, _, l) in rows)
        {
            if (p.SmPercent is { } sm)
                w.Sample("metagpu_process_absolute_gpu_utilization", l, sm);
        }
        w.Family("metagpu_process_metagpu_requests", "Meta-devices the process's container was given.", MetricType.Gauge);
        foreach (var (_, c, _, l) in rows)
        {
            if (c is not null)
                w.Sample("metagpu_process_metagpu_requests", l, c.Request);
        }
        w.Family("metagpu_process_max_allowed_metagpu_memory", "GPU memory the process's container is allowed on this GPU, in MiB.", MetricType.Gauge);
        foreach (var (_, c, g, l) in rows)
        {
            if (c is not null && g is not null)
                w.Sample("metagpu_process_max_allowed_metagpu_memory", l, g.MemoryAllowedBytes >> 20);
        }
        w.Family("metagpu_process_max_allowed_metagpu_gpu_utilization", "The share of this GPU the process's container was given, in percent.", MetricType.Gauge);
        foreach (var (_, c, g, l) in rows)
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
        for (var i = 0; i < EnforcementCounters.Actions.Length; i++)
            w.Sample("metagpu_enforcement_actions_total", ActionLabels[i], enforcement[EnforcementCounters.Actions[i]]);
        w.Family("metagpu_kubelet_registrations_total", "Registrations with the kubelet since start, per resource (more than one: the kubelet restarted).", MetricType.Counter);
        foreach (var (_, count, labels) in daemon.Registrations())
            w.Sample("metagpu_kubelet_registrations_total", labels, count);
        w.Family("metagpu_plugin_rpc_duration_seconds", "Time the device plugin took to answer the kubelet's calls, per resource and method.", MetricType.Histogram);
        foreach (var series in daemon.RpcLatencies())
            series.Histogram.Write(w, "metagpu_plugin_rpc_duration_seconds", series.Labels);
        w.Family("metagpu_pod_resources_available", "1 when the kubelet's pod-resources service answered the last refresh, else 0 (pods are then unnamed).", MetricType.Gauge);
        w.Sample("metagpu_pod_resources_available", LabelSet.Empty, v.PodResourcesAvailable ? 1 : 0);
        w.Family("metagpu_usage_refresh_duration_seconds", "How long the last usage refresh took.", MetricType.Gauge);
        w.Sample("metagpu_usage_refresh_duration_seconds", LabelSet.Empty, daemon.LastRefreshCost().TotalSeconds);
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

    private static LabelSet ProcessLabels(GpuProcessUsage p, ContainerUsage? c) =>
        LabelSet.Of([new("uuid", p.GpuUuid), new("device_index", Index(p.GpuIndex)), new("resource", c?.Resource ?? ""), new("namespace", c?.Namespace ?? ""),
            new("pod", c?.Pod ?? ""), new("container", c?.Container ?? ""), new("pid", p.Pid.ToString(CultureInfo.InvariantCulture))]);

    private static string Index(int index) => index.ToString(CultureInfo.InvariantCulture);
}
