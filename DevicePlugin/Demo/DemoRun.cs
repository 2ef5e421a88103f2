using System.Diagnostics;
using System.Globalization;
using System.Text;
using MetaGpu.DevicePlugin.Allocations;
using MetaGpu.DevicePlugin.Config;
using MetaGpu.Logging;
using MetaGpu.Nvml;
using MetaGpu.Proto.DevicePlugin.V1Beta1;
using Microsoft.Extensions.Logging;

namespace MetaGpu.DevicePlugin.Demo;

/// <summary>
/// <c>metagpu demo</c>: the product's own code paths on two simulated GPUs — the plugin daemon with its real
/// endpoints on real Unix sockets in a temporary directory, a stand-in kubelet admitting pods, a GPU going
/// unhealthy and recovering — printed as it happens. Leaves nothing behind, also when interrupted: the temporary
/// directory goes in <c>finally</c>, after the daemon has stopped and removed its sockets.
/// </summary>
public static class DemoRun
{
    private const string Resource = ResourceSharing.DefaultResourceName;
    private static readonly TimeSpan Step = TimeSpan.FromSeconds(10);

    /// <param name="cancel">Ends the demo early (Ctrl-C): the daemon stops, the directory is removed, exit 130.</param>
    public static async Task<int> RunAsync(TextWriter output, LogLevel logLevel, LogFormat logFormat, CancellationToken cancel)
    {
        var clock = Stopwatch.StartNew();
        var directory = Directory.CreateTempSubdirectory("metagpu-demo-").FullName;
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        Task<int>? daemon = null;
        StandInKubelet? kubelet = null;
        using var logs = ConsoleLogs.Create(logFormat, logLevel);
        using var backend = SimulatedBackend.Parse("2");
        try
        {
            var config = SharingConfig.Default with
            {
                Health = SharingConfig.Default.Health with { RecoveryQuietPeriod = TimeSpan.FromSeconds(1) },
                Source = "demo defaults (recovery after 1 s)",
            };

            output.WriteLine($"MetaGPU {Program.Version} demo: two simulated GPUs, the real device plugin, a stand-in kubelet.");
            output.WriteLine($"Plugin directory (temporary): {directory}");
            output.WriteLine();

            kubelet = new StandInKubelet(directory);
            daemon = Task.Run(() => PluginDaemon.RunAsync(backend, new PluginDaemonOptions
            {
                PluginDirectory = directory,
                // Inside the temporary directory, so the allocation files go with it.
                StateDirectory = Path.Combine(directory, "state"),
                Config = config,
                KubeletPollInterval = TimeSpan.FromMilliseconds(100),
            }, logs, stop.Token));

            var devices = await WaitAsync(kubelet, d => d.Count == 200, "the plugin to register and list its devices", cancel).ConfigureAwait(false);
            var sockets = Array.ConvertAll(Directory.GetFiles(directory, "*.sock"), p => Path.GetFileName(p));
            Array.Sort(sockets, StringComparer.Ordinal);
            output.WriteLine($"1. The plugin registered {Resource} with the kubelet; sockets: {string.Join(", ", sockets)}");
            var ids = new List<string>(devices.Keys);
            ids.Sort(StringComparer.Ordinal);
            output.WriteLine($"   ListAndWatch: {devices.Count} meta-devices, {Healthy(devices)} healthy, e.g. {ids[0]}");
            foreach (var gpu in backend.GetInventory().Gpus)
                output.WriteLine($"   GPU {gpu.Index}: {gpu.Uuid}  {gpu.Name}, {gpu.MemoryTotalBytes >> 20} MiB, NUMA node {gpu.NumaNode?.ToString(CultureInfo.InvariantCulture) ?? "-"}");
            output.WriteLine();

            output.WriteLine("2. Pods are admitted the way the kubelet does it (GetPreferredAllocation, then Allocate):");
            var admitted = new Dictionary<string, IReadOnlyList<string>>(StringComparer.Ordinal);
            var rows = new List<string[]> { new[] { "POD", "REQUEST", "GPU", "SHARE", "MEMORY LIMIT", "CONTAINER ENV" } };
            var files = new Dictionary<string, string>(StringComparer.Ordinal);
            async Task Admit(string pod, int count, string note)
            {
                var (ids, response) = await kubelet.AdmitAsync(Resource, count).ConfigureAwait(false);
                admitted[pod] = ids;
                files[pod] = AllocationFileOf(response);
                var uuids = response.Envs["NVIDIA_VISIBLE_DEVICES"].Split(',');
                var index = new Dictionary<string, int>();
                foreach (var g in backend.GetInventory().Gpus)
                    index.Add(g.Uuid, g.Index);
                var share = string.Join(" + ", Array.ConvertAll(response.Envs["METAGPU_SHARES"].Split(','), s =>
                {
                    var parts = s.Split('=', '/');
                    return $"{int.Parse(parts[1], CultureInfo.InvariantCulture) / (double)int.Parse(parts[2], CultureInfo.InvariantCulture):0.##}";
                }));
                rows.Add([
                    pod, $"{count} ({count / 100.0:0.##} GPU)", string.Join("+", Array.ConvertAll(uuids, u => index[u].ToString(CultureInfo.InvariantCulture))),
                    share, $"{response.Envs["METAGPU_MAX_MEM"]} MiB",
                    $"NVIDIA_VISIBLE_DEVICES={Abbreviate(response.Envs["NVIDIA_VISIBLE_DEVICES"])} METAGPU_MAX_MEM={response.Envs["METAGPU_MAX_MEM"]}",
                ]);
                if (note.Length > 0)
                    rows.Add(["", "", "", "", "", "  " + note]);
            }
            await Admit("pod-a", 30, "").ConfigureAwait(false);
            await Admit("pod-b", 50, "packed next to pod-a: GPU 1 stays whole").ConfigureAwait(false);
            await Admit("pod-c", 100, "a whole GPU: fits only because pod-a and pod-b were packed").ConfigureAwait(false);
            output.Write(Table(rows));
            output.WriteLine($"   Each container also gets its allocation file, read-only at {AllocationContainerPaths.Documented}; pod-a's:");
            output.WriteLine("   " + Describe(directory, files["pod-a"]));
            output.WriteLine("   pod-a and pod-c finish; their meta-devices are free again.");
            kubelet.Release(Resource, admitted["pod-a"]);
            kubelet.Release(Resource, admitted["pod-c"]);
            rows.RemoveRange(1, rows.Count - 1);
            await Admit("pod-d", 150, "1.5 GPU: one whole GPU plus half of the other, the fewest GPUs possible").ConfigureAwait(false);
            output.Write(Table(rows));
            output.WriteLine();

            var bad = backend.Uuids[1];
            output.WriteLine($"3. GPU 1 reports XID 48 (a double-bit ECC error): every meta-device of it turns Unhealthy.");
            var before = clock.Elapsed;
            backend.InjectEvent(new GpuEvent(bad, GpuEventKind.Xid, 48));
            var down = await WaitAsync(kubelet, d => d.Count - Healthy(d) == 100, "GPU 1 to turn unhealthy", cancel).ConfigureAwait(false);
            output.WriteLine($"   ListAndWatch after {(clock.Elapsed - before).TotalMilliseconds:0} ms: {Healthy(down)} healthy, " +
                $"{down.Count - Healthy(down)} unhealthy (all on {Abbreviate(bad)})");
            before = clock.Elapsed;
            var up = await WaitAsync(kubelet, d => Healthy(d) == d.Count, "GPU 1 to recover", cancel).ConfigureAwait(false);
            output.WriteLine($"   No new error for the quiet period (1 s in this demo, 2 min by default) and NVML answers again:");
            output.WriteLine($"   ListAndWatch after {(clock.Elapsed - before).TotalMilliseconds:0} ms: all {up.Count} healthy again.");
            output.WriteLine();

            await stop.CancelAsync().ConfigureAwait(false);
            var exit = await daemon.ConfigureAwait(false);
            var left = Directory.GetFiles(directory, "metagpu-*.sock").Length;
            output.WriteLine($"4. Stopped as on SIGTERM (exit {exit}): ListAndWatch closed, {left} plugin sockets left. Took {clock.Elapsed.TotalSeconds:0.0} s.");
            return exit;
        }
        catch (Exception e) when (cancel.IsCancellationRequested && e is OperationCanceledException or TimeoutException or InvalidOperationException or Grpc.Core.RpcException)
        {
            // After Ctrl-C a call in flight may fail as the plugin shuts down (UNAVAILABLE, GOAWAY): that is the interrupt, not an error.
            output.WriteLine($"Interrupted: stopping the plugin and removing {directory}.");
            return 130;
        }
        catch (Exception e) when (e is TimeoutException or InvalidOperationException or Grpc.Core.RpcException)
        {
            logs.CreateLogger("metagpu.demo").LogError("{Error}", e.Message);
            return 1;
        }
        finally
        {
            await stop.CancelAsync().ConfigureAwait(false);
            if (daemon is not null)
                await daemon.ConfigureAwait(false);
            if (kubelet is not null)
                await kubelet.DisposeAsync().ConfigureAwait(false);
            try
            {
                Directory.Delete(directory, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }

    private static async Task<IReadOnlyDictionary<string, Device>> WaitAsync(StandInKubelet kubelet, Func<IReadOnlyDictionary<string, Device>, bool> condition, string what, CancellationToken cancel)
    {
        var deadline = DateTime.UtcNow + Step;
        while (true)
        {
            if (kubelet.Devices(Resource) is { } devices && condition(devices))
                return devices;
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"gave up waiting for {what}");
            await Task.Delay(10, cancel).ConfigureAwait(false);
        }
    }

    private static int Healthy(IReadOnlyDictionary<string, Device> devices)
    {
        var healthy = 0;
        foreach (var d in devices.Values)
        {
            if (d.Health == DeviceList.Healthy)
                healthy++;
        }
        return healthy;
    }

    /// <summary>The host path of the allocation file that the Allocate response mounts into the container.</summary>
    private static string AllocationFileOf(ContainerAllocateResponse response)
    {
        foreach (var m in response.Mounts)
        {
            if (m.ContainerPath == AllocationContainerPaths.Documented)
                return m.HostPath;
        }
        throw new InvalidOperationException($"the Allocate response mounts nothing at {AllocationContainerPaths.Documented}");
    }

    /// <summary>One line of what an allocation file says, read back from the host's file as a container would read it.</summary>
    private static string Describe(string directory, string hostPath)
    {
        var record = AllocationJson.TryRead(File.ReadAllBytes(hostPath))
            ?? throw new InvalidOperationException($"{hostPath} is not a valid allocation file");
        var gpus = new List<string>(record.Gpus.Count);
        foreach (var g in record.Gpus)
            gpus.Add(string.Create(CultureInfo.InvariantCulture, $"GPU {g.Index} share {g.Share:0.##} ({g.MemoryLimitMiB} MiB)"));
        return string.Create(CultureInfo.InvariantCulture,
            $"{Path.GetRelativePath(directory, hostPath)}: {record.Resource}, {record.Request} meta-devices, {string.Join(" + ", gpus)}, memory limit {record.MemoryLimitMiB} MiB");
    }

    private static string Abbreviate(string uuids) => string.Join(",", Array.ConvertAll(uuids.Split(','), u => u.Length > 13 ? u[..13] + "…" : u));

    private static string Table(List<string[]> rows)
    {
        var widths = new int[rows[0].Length];
        foreach (var r in rows)
        {
            if (IsNote(r))
                continue;
            for (var i = 0; i < r.Length; i++)
                widths[i] = Math.Max(widths[i], r[i].Length);
        }
        var sb = new StringBuilder();
        foreach (var r in rows)
        {
            sb.Append("   ");
            if (IsNote(r))
            {
                var indent = 0;
                for (var i = 0; i < r.Length - 1 && i < widths.Length; i++)
                    indent += widths[i];
                sb.Append(' ', indent + 2 * (r.Length - 1)).Append(r[^1].TrimStart()).Append('\n');
                continue;
            }
            for (var i = 0; i < r.Length; i++)
            {
                sb.Append(r[i]);
                if (i < r.Length - 1)
                    sb.Append(' ', widths[i] - r[i].Length + 2);
            }
            sb.Append('\n');
        }
        return sb.ToString();
    }

    /// <summary>A note under a pod's row: only its last column is filled, and it starts under that column.</summary>
    private static bool IsNote(string[] row) => row[0].Length == 0 && row[1].Length == 0;
}
