using System.Buffers;
using System.Diagnostics;
using System.Globalization;
using Grpc.Core;
using MetaGpu.DevicePlugin;
using MetaGpu.DevicePlugin.Allocations;
using MetaGpu.DevicePlugin.Config;
using MetaGpu.Nvml;
using MetaGpu.Tests.Kubelet.PodResources.V1;
using MetaGpu.Rpc.Grpc;
using MetaGpu.Usage.Enforcement;
using MetaGpu.Usage.Metrics;
using MetaGpu.Usage.PodResources;
using MetaGpu.Usage.Proc;
using MetaGpu.Usage.Workload;
using Microsoft.Extensions.Logging.Abstractions;

namespace MetaGpu.Bench;

/// <summary>
/// <c>--usage N</c>: what usage monitoring costs at 8 GPUs x 64 processes, with the product's own parts: one refresh of
/// <see cref="WorkloadWatcher"/> (simulated NVML listing 512 real processes, a /proc read of each, 64 allocation files,
/// one pod-resources List answered by our own gRPC server with 64 containers, the build, enforcement in report mode),
/// and one render of /metrics from the view it built.
/// </summary>
public static class UsageBench
{
    const int Gpus = 8, ProcessesPerGpu = 64, ContainersPerGpu = 8;
    const string Resource = "cnvrg.io/metagpu";

    sealed class Lister(ListPodResourcesResponse answer) : PodResourcesLister.PodResourcesListerBase
    {
        public override Task<ListPodResourcesResponse> List(ListPodResourcesRequest request, ServerCallContext context) => Task.FromResult(answer);
    }

    public static async Task<bool> RunAsync(int refreshes)
    {
        var dir = Directory.CreateTempSubdirectory("mg-usage-bench-").FullName;
        var sleepers = new List<Process>();
        try
        {
            using var backend = SimulatedBackend.Parse(Gpus.ToString(CultureInfo.InvariantCulture));
            var inventory = backend.GetInventory();
            var config = SharingConfig.Default;
            var plan = SharePlanBuilder.Build(config, inventory);
            var resource = plan.Resources.Single();
            var files = new AllocationFiles(Path.Combine(dir, "state"));

            // 64 containers of 12 meta-devices, 8 per GPU; 64 real processes per GPU.
            var answer = new ListPodResourcesResponse();
            for (var g = 0; g < Gpus; g++)
            {
                var gpu = resource.Gpus[g];
                for (var c = 0; c < ContainersPerGpu; c++)
                {
                    var ids = Enumerable.Range(c * 12, 12).Select(i => new MetaDeviceId(gpu.Index, i, gpu.Uuid).ToString()).ToList();
                    files.Write(AllocationRecord.Create(Resource, ids, AllocationPolicy.Describe(resource, ids)));
                    var devices = new ContainerDevices { ResourceName = Resource };
                    devices.DeviceIds.Add(ids);
                    var container = new ContainerResources { Name = "main" };
                    container.Devices.Add(devices);
                    var pod = new PodResources { Name = $"trainer-{g}-{c}", Namespace = $"team-{c}" };
                    pod.Containers.Add(container);
                    answer.PodResources.Add(pod);
                }
                for (var p = 0; p < ProcessesPerGpu; p++)
                {
                    var sleeper = Process.Start(new ProcessStartInfo("sleep", "600") { UseShellExecute = false })!;
                    sleepers.Add(sleeper);
                    backend.AddProcess(gpu.Uuid, (uint)sleeper.Id, (ulong)(100 + p) << 20);
                }
            }

            var socket = Path.Combine(dir, "pod-resources.sock");
            await using var server = new GrpcServer().AddService(PodResourcesLister.BindService(new Lister(answer)));
            server.ListenUnix(socket);
            using var pods = new PodResourcesClient(socket, NullLogger.Instance);
            var store = new NodeStateStore(new NodeState(1, config, inventory, plan, new GpuHealthSnapshot(1, new Dictionary<string, GpuHealth>())));
            var proc = new ProcFs("/proc");
            var mount = proc.LocateOwnStateDir(files.StateDirectory);
            var enforcer = new MemoryEnforcer(new PidfdSignaller("/proc"), NullLogger.Instance);
            var watcher = new WorkloadWatcher(backend, () => store.Current, proc, mount, files,
                new AllocationSweeper(files, AllocationSweeper.DefaultUnreferencedFor, TimeProvider.System), pods, enforcer,
                () => MemorySettings.Default, NullLogger.Instance);

            for (var i = 0; i < 5; i++)
                await watcher.RefreshAsync(CancellationToken.None);
            var view = watcher.View.Current;
            var walls = new List<double>(refreshes);
            var cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
            for (var i = 0; i < refreshes; i++)
            {
                var t = Stopwatch.GetTimestamp();
                view = await watcher.RefreshAsync(CancellationToken.None);
                walls.Add(Stopwatch.GetElapsedTime(t).TotalMilliseconds);
            }
            var cpu = (Process.GetCurrentProcess().TotalProcessorTime - cpu0).TotalMilliseconds / refreshes;
            walls.Sort();

            var renders = Math.Max(200, refreshes * 10);
            var (render, bytes, samples, allocated) = Render(view, enforcer, renders, newViewEach: true);

            // The refresh above cannot attribute the sleepers (they hold no allocation mount), so this is the scrape
            // at its largest: the same GPUs and containers, each container's 8 processes in it, with memory and SM.
            var unallocated = view.Unallocated;
            var attributed = view with
            {
                Containers = [.. view.Containers.Select((c, i) => c with
                {
                    Processes = [.. Enumerable.Range(0, ProcessesPerGpu / ContainersPerGpu).Select(k => unallocated[(i * 8 + k) % unallocated.Count] with
                    {
                        GpuUuid = c.Gpus[0].Uuid, GpuIndex = c.Gpus[0].Index, SmPercent = (uint)(k * 3 % 100), AllocationKey = c.AllocationKey,
                    })],
                })],
                Unallocated = [],
            };
            var full = Render(attributed, enforcer, renders, newViewEach: true);
            var again = Render(attributed, enforcer, renders, newViewEach: false);
            // Whole HTTP scrapes of those metrics, a new view before each (a refresh between every two scrapes).
            var scrapeViews = Enumerable.Range(0, 64).Select(i => attributed with { Version = attributed.Version + i + 1 }).ToArray();
            var served = 0;
            var http = new UsageMetrics(() => scrapeViews[served++ % scrapeViews.Length], enforcer.Counters, new DaemonCounters());
            var (p50, p99, httpCpu, httpAllocated) = await ScrapeBench.HttpScrapesAsync(http.Write, renders);
            var serverCpu = await ScrapeBench.ServerCpuPerScrapeAsync(http.Write, Math.Min(renders, 2000));

            Console.Out.WriteLine($"usage at {Gpus} GPUs x {ProcessesPerGpu} processes ({view.Containers.Count} containers with allocations, " +
                $"{view.Containers.Sum(c => c.Processes.Count) + view.Unallocated.Count} GPU processes, pod-resources available: {view.PodResourcesAvailable})");
            Console.Out.WriteLine($"  refresh: {cpu:0.00} ms CPU each (NVML, /proc, List and our server's answer, build, enforcement), " +
                $"wall p50 {walls[walls.Count / 2]:0.00} ms, p99 {walls[(int)(walls.Count * 0.99)]:0.00} ms over {refreshes}");
            Console.Out.WriteLine($"  render /metrics from that view (processes unattributed): {render:0} us CPU, {bytes} bytes, {samples} samples, {allocated} bytes allocated");
            Console.Out.WriteLine($"  render with every process in a container (first scrape of a view): {full.Micros:0} us CPU, {full.Bytes} bytes, {full.Samples} samples, {full.Allocated} bytes allocated");
            Console.Out.WriteLine($"  render with every process in a container (the same view again):    {again.Micros:0} us CPU, {again.Bytes} bytes, {again.Samples} samples, {again.Allocated} bytes allocated");
            Console.Out.WriteLine($"  HTTP GET /metrics of that, a new view each time, over loopback: {httpCpu:0} us CPU per scrape (server and client), " +
                $"p50 {p50:0} us, p99 {p99:0} us, {httpAllocated:0} bytes allocated");
            Console.Out.WriteLine(serverCpu is { } daemonSide
                ? $"  the same scraped by curl (another process, one connection), the daemon's side alone: {daemonSide.User + daemonSide.System:0} us CPU per scrape " +
                  $"({daemonSide.User:0} us user: rendering and writing; {daemonSide.System:0} us system: the kernel sending {full.Bytes} bytes over loopback TCP)"
                : "  (curl not installed: no figure for the daemon's side alone)");
            return view.Containers.Count == Gpus * ContainersPerGpu && view.PodResourcesAvailable;
        }
        finally
        {
            foreach (var s in sleepers)
            {
                try
                {
                    s.Kill();
                    s.WaitForExit();
                }
                catch (InvalidOperationException)
                {
                }
                s.Dispose();
            }
            Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>
    /// CPU per render of <paramref name="view"/> (mean over <paramref name="renders"/> after 50 warm-ups), the body's
    /// size and sample count, and bytes allocated per render. With <paramref name="newViewEach"/> every render sees a
    /// new view (as after each refresh), so its label sets are made again.
    /// </summary>
    static (double Micros, int Bytes, int Samples, long Allocated) Render(WorkloadView view, MemoryEnforcer enforcer, int renders, bool newViewEach)
    {
        var current = view;
        var metrics = new UsageMetrics(() => current, enforcer.Counters, new DaemonCounters());
        var buffer = new ArrayBufferWriter<byte>(1 << 20);
        var views = Enumerable.Range(0, renders + 50).Select(i => newViewEach ? view with { Version = view.Version + i + 1 } : view).ToArray();
        for (var i = 0; i < 50; i++)
        {
            current = views[i];
            buffer.ResetWrittenCount();
            metrics.Write(buffer);
        }
        var cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
        var allocated0 = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < renders; i++)
        {
            current = views[50 + i];
            buffer.ResetWrittenCount();
            metrics.Write(buffer);
        }
        var allocated = (GC.GetAllocatedBytesForCurrentThread() - allocated0) / renders;
        var micros = (Process.GetCurrentProcess().TotalProcessorTime - cpu0).TotalMicroseconds / renders;
        var samples = System.Text.Encoding.UTF8.GetString(buffer.WrittenSpan).Split('\n').Count(l => l.Length > 0 && l[0] != '#');
        return (micros, buffer.WrittenCount, samples, allocated);
    }
}
