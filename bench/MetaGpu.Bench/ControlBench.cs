using System.Diagnostics;
using System.Globalization;
using Grpc.Core;
using MetaGpu.Control.Identity;
using MetaGpu.Control.Service;
using MetaGpu.Control.V1;
using MetaGpu.Primitives;
using MetaGpu.Rpc.Grpc;
using MetaGpu.Usage.Enforcement;
using MetaGpu.Usage.Proc;
using MetaGpu.Usage.Workload;
using Microsoft.Extensions.Logging.Abstractions;

namespace MetaGpu.Bench;

/// <summary>
/// <c>--control N</c>: control calls per second against the product's control service on a Unix socket, with the
/// kernel's credentials checked on every call (this process is root in the node's mount namespace: node scope), at
/// 8 GPUs x 64 processes in 64 containers: Ping (identity and liveness only) and ListContainers (the whole node,
/// about 500 processes), at concurrency 1 and 8 (one connection per client, as each mgctl has its own).
/// </summary>
public static class ControlBench
{
    const int Gpus = 8, ContainersPerGpu = 8, ProcessesPerContainer = 8;

    public static async Task<bool> RunAsync(int calls)
    {
        var dir = Directory.CreateTempSubdirectory("mg-control-bench-").FullName;
        try
        {
            var view = new VersionedSnapshot<WorkloadView>(View());
            var proc = new ProcFs("/proc");
            var resolver = new CallerResolver(proc, proc.LocateOwnStateDir(dir), 0);
            var answers = new ScopedAnswers(_ => null, (pid, started) => proc.StartTime(pid) == started ? proc.NsPids(pid) : null);
            var service = new ControlService(view, resolver, answers, new PidfdSignaller("/proc").Signal, "bench", "0", NullLogger.Instance);
            var socket = Path.Combine(dir, "control.sock");
            await using var server = new GrpcServer(new GrpcServerOptions { ReadPeerCredentials = true }).AddService(Control.V1.Control.BindService(service));
            server.ListenUnix(socket);

            Console.Out.WriteLine($"control calls at {Gpus} GPUs x {ContainersPerGpu * ProcessesPerContainer} processes ({Gpus * ContainersPerGpu} containers), " +
                $"node scope, {calls} calls per run, {Environment.ProcessorCount} CPUs");
            var ok = true;
            foreach (var concurrency in new[] { 1, 8 })
            {
                ok &= await MeasureAsync("Ping", socket, calls, concurrency, c => c.PingAsync(new PingRequest()).ResponseAsync.ContinueWith(t => t.Result.Version.Length >= 0));
                ok &= await MeasureAsync("ListContainers", socket, calls, concurrency,
                    c => c.ListContainersAsync(new ListContainersRequest()).ResponseAsync.ContinueWith(t => t.Result.Containers.Count == Gpus * ContainersPerGpu));
            }
            return ok;
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    static async Task<bool> MeasureAsync(string name, string socket, int calls, int concurrency, Func<Control.V1.Control.ControlClient, Task<bool>> call)
    {
        var channels = Enumerable.Range(0, concurrency).Select(_ => new UnixChannel(socket, new UnixChannelOptions { MaxReceiveMessageSize = 16 << 20 })).ToArray();
        try
        {
            var clients = channels.Select(c => new Control.V1.Control.ControlClient(c)).ToArray();
            foreach (var c in clients)
            {
                for (var i = 0; i < 50; i++)
                    await call(c);
            }
            var latencies = new double[calls];
            var next = -1;
            var good = 0;
            var cpu0 = System.Diagnostics.Process.GetCurrentProcess().TotalProcessorTime;
            var wall = Stopwatch.StartNew();
            await Task.WhenAll(clients.Select(async c =>
            {
                int i;
                while ((i = Interlocked.Increment(ref next)) < calls)
                {
                    var t = Stopwatch.GetTimestamp();
                    if (await call(c))
                        Interlocked.Increment(ref good);
                    latencies[i] = Stopwatch.GetElapsedTime(t).TotalMicroseconds;
                }
            }));
            wall.Stop();
            var cpu = (System.Diagnostics.Process.GetCurrentProcess().TotalProcessorTime - cpu0).TotalMicroseconds / calls;
            Array.Sort(latencies);
            Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  {name,-15} concurrency {concurrency}: {calls / wall.Elapsed.TotalSeconds,8:0} calls/s, p50 {latencies[calls / 2],6:0} us, " +
                $"p99 {latencies[calls * 99 / 100],6:0} us, {cpu,5:0} us CPU per call (server and client)"));
            return good == calls;
        }
        finally
        {
            foreach (var c in channels)
                c.Dispose();
        }
    }

    static WorkloadView View()
    {
        var gpus = new List<GpuUsage>();
        var containers = new List<ContainerUsage>();
        var pid = 100_000;
        for (var g = 0; g < Gpus; g++)
        {
            var uuid = $"GPU-{g:x8}-5b6f-4f41-9f63-0123456789ab";
            gpus.Add(new GpuUsage(g, uuid, "NVIDIA A100-SXM4-80GB", 80UL << 30, 40UL << 30, 40UL << 30, 55, [new ResourceSplit("cnvrg.io/metagpu", 100, 819)]));
            for (var c = 0; c < ContainersPerGpu; c++)
            {
                var key = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(BitConverter.GetBytes(g * 100 + c)))[..40];
                var processes = Enumerable.Range(0, ProcessesPerContainer)
                    .Select(p => new GpuProcessUsage(pid++, uuid, g, $"python train.py --rank {p}", 600UL << 20, 6, null, null, 1, key, true)).ToList();
                containers.Add(new ContainerUsage(key, $"team-{c}", $"trainer-{g}-{c}", "main", "cnvrg.io/metagpu", 12,
                    [new Usage.Workload.ContainerGpu(uuid, g, 12, 100, (819UL * 12) << 20, (600UL * ProcessesPerContainer) << 20, 48)], processes));
            }
        }
        return new WorkloadView(1, DateTimeOffset.UtcNow, gpus, containers, [], true);
    }
}
