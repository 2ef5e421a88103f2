using System.Buffers;
using System.Text;
using MetaGpu.Tests.Support;
using MetaGpu.Usage.Enforcement;
using MetaGpu.Usage.Metrics;
using static MetaGpu.Tests.Usage.Workload.WorkloadScenario;

namespace MetaGpu.Tests.Usage.Workload;

/// <summary>/metrics rendered from a workload view: the families, their labels and values, and promtool's verdict.</summary>
public sealed class UsageMetricsTests
{
    private static string Render(WorkloadScenario s, DaemonCounters? daemon = null)
    {
        var view = s.Build();
        var buffer = new ArrayBufferWriter<byte>();
        new UsageMetrics(() => view, new EnforcementCounters(), daemon ?? new DaemonCounters()).Write(buffer);
        var (exit, output) = Promtool.CheckMetrics(buffer.WrittenSpan);
        Assert.True(exit == 0, $"promtool check metrics: {output}");
        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    [Fact]
    public void EachProcessCarriesItsOwnContainersLabelsInEveryFamily()
    {
        var s = new WorkloadScenario();
        s.Run(101, Gpu0, 1 * GiB, s.A.Key).Run(201, Gpu0, 2 * GiB, s.B.Key).Run(301, Gpu1, 3 * GiB, s.C.Key).Run(900, Gpu0, GiB / 2);
        s.Utilization[Gpu0].Add(new(201, 10, 20, 0, 0, 0));

        var text = Render(s);

        var b = $"uuid=\"{Gpu0}\",device_index=\"0\",resource=\"{Resource}\",namespace=\"team-b\",pod=\"train-b\",container=\"worker\",pid=\"201\"";
        Assert.Contains($"metagpu_process_memory_usage{{{b}}} 2048\n", text);
        Assert.Contains($"metagpu_process_metagpu_requests{{{b}}} 40\n", text);
        Assert.Contains($"metagpu_process_max_allowed_metagpu_memory{{{b}}} 6553\n", text);
        Assert.Contains($"metagpu_process_max_allowed_metagpu_gpu_utilization{{{b}}} 40\n", text);
        Assert.Contains($"metagpu_process_absolute_gpu_utilization{{{b}}} 20\n", text);
        Assert.Contains($"metagpu_process_metagpu_relative_gpu_utilization{{{b}}} 50\n", text);
        Assert.Contains($"metagpu_process_memory_usage{{uuid=\"{Gpu1}\",device_index=\"1\",resource=\"{Resource}\",namespace=\"team-c\",pod=\"serve-c\",container=\"server\",pid=\"301\"}} 3072\n", text);
        // A process of no allocation: empty allocation labels, and no share-relative families.
        var none = $"uuid=\"{Gpu0}\",device_index=\"0\",resource=\"\",namespace=\"\",pod=\"\",container=\"\",pid=\"900\"";
        Assert.Contains($"metagpu_process_memory_usage{{{none}}} 512\n", text);
        Assert.DoesNotContain($"metagpu_process_metagpu_requests{{{none}}}", text);
        Assert.Contains($"metagpu_container_memory_used_bytes{{uuid=\"{Gpu0}\",device_index=\"0\",resource=\"{Resource}\",namespace=\"team-a\",pod=\"notebook-a\",container=\"main\"}} {GiB}\n", text);
        Assert.Contains($"metagpu_device_memory_total_bytes{{uuid=\"{Gpu0}\",device_index=\"0\"}} {16 * GiB}\n", text);
        Assert.Contains("metagpu_pod_resources_available 1\n", text);
    }

    [Fact]
    public void RegistrationsAndRpcLatenciesAreCountedPerResource()
    {
        var daemon = new DaemonCounters();
        daemon.Registered(Resource);
        daemon.Registered(Resource);
        daemon.RpcFinished(Resource, "/v1beta1.DevicePlugin/Allocate", TimeSpan.FromMilliseconds(3));

        var text = Render(new WorkloadScenario(), daemon);

        Assert.Contains($"metagpu_kubelet_registrations_total{{resource=\"{Resource}\"}} 2\n", text);
        Assert.Contains($"metagpu_plugin_rpc_duration_seconds_count{{resource=\"{Resource}\",method=\"Allocate\"}} 1\n", text);
        Assert.Contains($"metagpu_plugin_rpc_duration_seconds_bucket{{resource=\"{Resource}\",method=\"Allocate\",le=\"0.005\"}} 1\n", text);
        Assert.Contains($"metagpu_plugin_rpc_duration_seconds_bucket{{resource=\"{Resource}\",method=\"Allocate\",le=\"0.0025\"}} 0\n", text);
    }

    /// <summary>
    /// Label sets are kept per view: a second scrape of the same view writes the same text, and a scrape after a
    /// refresh shows the new view, never the labels of the last one.
    /// </summary>
    [Fact]
    public void A_scrape_after_a_refresh_shows_the_new_view_not_the_kept_labels()
    {
        var s = new WorkloadScenario();
        s.Run(101, Gpu0, 1 * GiB, s.A.Key);
        var current = s.Build();
        var metrics = new UsageMetrics(() => current, new EnforcementCounters(), new DaemonCounters());
        string Scrape()
        {
            var buffer = new ArrayBufferWriter<byte>();
            metrics.Write(buffer);
            return Encoding.UTF8.GetString(buffer.WrittenSpan);
        }
        var first = Scrape();
        Assert.Equal(first, Scrape());
        Assert.Contains("pid=\"101\"} 1024\n", first);

        // The same pid now in B's container, a new pid in C's; A's process is gone.
        var next = new WorkloadScenario();
        next.Run(101, Gpu0, 2 * GiB, next.B.Key).Run(301, Gpu1, 3 * GiB, next.C.Key);
        current = next.Build();
        var second = Scrape();
        Assert.DoesNotContain("pod=\"notebook-a\",container=\"main\",pid=\"101\"", second);
        Assert.Contains("metagpu_process_memory_usage{uuid=\"" + Gpu0 + "\",device_index=\"0\",resource=\"" + Resource + "\",namespace=\"team-b\",pod=\"train-b\",container=\"worker\",pid=\"101\"} 2048\n", second);
        Assert.Contains("pod=\"serve-c\",container=\"server\",pid=\"301\"} 3072\n", second);
        var (exit, output) = Promtool.CheckMetrics(Encoding.UTF8.GetBytes(second));
        Assert.True(exit == 0, $"promtool check metrics: {output}");
    }
}
