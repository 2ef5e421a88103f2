using System.Diagnostics;
using Grpc.Core;
using MetaGpu.DevicePlugin;
using MetaGpu.Proto.DevicePlugin.V1Beta1;
using PluginClient = MetaGpu.Proto.DevicePlugin.V1Beta1.DevicePlugin.DevicePluginClient;

namespace MetaGpu.Bench;

/// <summary>One measured kind of call: warm-up calls, then some at concurrency 1, then some with more in flight.</summary>
public sealed record KubeletLoop(string Name, int Warmup, int C1, int CN);

/// <summary>
/// The kubelet's calls made from Grpc.Net.Client, the same requests as kubeletsim's (bench/grpcgo/kubeletsim/calls.go):
/// Allocate of 30 meta-devices on one GPU (call i: GPU i mod 8, a different run of shares each round),
/// GetDevicePluginOptions, GetPreferredAllocation of 400 out of all 800. Every answer is checked after the clock.
/// </summary>
sealed class KubeletCalls
{
    public const int Gpus = 8, PerGpu = 100, Request = 30, PreferredSize = 400, Concurrency = 8;

    private readonly PluginClient _client;
    private readonly string[][] _byGpu;
    private readonly string[] _uuids;
    private readonly HashSet<string> _available;
    private readonly PreferredAllocationRequest _preferred;
    // Per kind, so that consecutive Allocate calls ask for different IDs.
    private readonly Dictionary<string, int[]> _next = new() { ["allocate"] = [0], ["allocate_new"] = [0], ["options"] = [0], ["preferred"] = [0] };

    private KubeletCalls(PluginClient client, string[][] byGpu, string[] uuids, List<string> all)
    {
        _client = client;
        _byGpu = byGpu;
        _uuids = uuids;
        _available = new HashSet<string>(all, StringComparer.Ordinal);
        _preferred = new PreferredAllocationRequest
        {
            ContainerRequests = { new ContainerPreferredAllocationRequest { AvailableDeviceIDs = { all }, AllocationSize = PreferredSize } },
        };
    }

    /// <summary>
    /// The split of kubeletsim's <c>splitCalls</c>: the default 13,000 are Allocate 5,000 (500 warm-up, 2,250 at
    /// concurrency 1, 2,250 at 8), Allocate of new sets 500 (no warm-up, 250, 250), GetDevicePluginOptions 5,500 (500,
    /// 2,500, 2,500) and GetPreferredAllocation 2,000 (200, 900, 900); another total scales each count, none but a
    /// zero below the concurrency.
    /// </summary>
    public static KubeletLoop[] Split(int total)
    {
        int Scale(int n) => n == 0 ? 0 : Math.Max(Concurrency, (int)(n * (double)total / 13000 + 0.5));
        return [.. new KubeletLoop[] { new("allocate", 500, 2250, 2250), new("allocate_new", 0, 250, 250), new("options", 500, 2500, 2500), new("preferred", 200, 900, 900) }
            .Select(l => new KubeletLoop(l.Name, Scale(l.Warmup), Scale(l.C1), Scale(l.CN)))];
    }

    /// <summary>Reads the plugin's device list from a ListAndWatch of its own and groups it by GPU.</summary>
    public static async Task<KubeletCalls> CreateAsync(PluginClient client, CancellationToken ct)
    {
        using var listing = CancellationTokenSource.CreateLinkedTokenSource(ct);
        using var call = client.ListAndWatch(new Empty(), cancellationToken: listing.Token);
        if (!await call.ResponseStream.MoveNext(listing.Token))
            throw new InvalidOperationException("ListAndWatch ended without a device list");
        var devices = call.ResponseStream.Current.Devices;
        listing.Cancel();

        var byGpu = Enumerable.Range(0, Gpus).Select(_ => new string[PerGpu]).ToArray();
        var uuids = new string[Gpus];
        var all = new List<string>(devices.Count);
        foreach (var d in devices)
        {
            if (!MetaDeviceId.TryParse(d.ID, out var id) || id.Value.GpuIndex >= Gpus || id.Value.ShareIndex >= PerGpu
                || byGpu[id.Value.GpuIndex][id.Value.ShareIndex] is not null || (uuids[id.Value.GpuIndex] ?? id.Value.GpuUuid) != id.Value.GpuUuid)
                throw new InvalidOperationException($"device '{d.ID}' does not fit {Gpus} GPUs x {PerGpu} meta-devices");
            byGpu[id.Value.GpuIndex][id.Value.ShareIndex] = d.ID;
            uuids[id.Value.GpuIndex] = id.Value.GpuUuid;
            all.Add(d.ID);
        }
        if (all.Count != Gpus * PerGpu)
            throw new InvalidOperationException($"{all.Count} devices listed, {Gpus * PerGpu} expected");
        var options = await client.GetDevicePluginOptionsAsync(new Empty(), cancellationToken: ct);
        if (!options.GetPreferredAllocationAvailable)
            throw new InvalidOperationException("the plugin's options do not offer GetPreferredAllocation");
        return new KubeletCalls(client, byGpu, uuids, all);
    }

    /// <summary>One call of the kind; its latency in µs.</summary>
    public async Task<double> CallAsync(string kind, CancellationToken ct)
    {
        var i = Interlocked.Increment(ref _next[kind][0]) - 1;
        switch (kind)
        {
            case "allocate" or "allocate_new":
            {
                // "allocate": a run of consecutive shares, a different run each round (the runs recur);
                // "allocate_new": a random set of shares, never asked before in the launch.
                var gpu = i % Gpus;
                var shares = _byGpu[gpu];
                var request = new AllocateRequest();
                var container = new ContainerAllocateRequest();
                if (kind == "allocate")
                {
                    var start = i / Gpus * Request % shares.Length;
                    for (var k = 0; k < Request; k++)
                        container.DevicesIds.Add(shares[(start + k) % shares.Length]);
                }
                else
                {
                    var order = Enumerable.Range(0, shares.Length).ToArray();
                    new Random(i).Shuffle(order);
                    container.DevicesIds.Add(order.Take(Request).Select(s => shares[s]));
                }
                request.ContainerRequests.Add(container);
                var t = Stopwatch.GetTimestamp();
                var answer = await _client.AllocateAsync(request, cancellationToken: ct);
                var us = Stopwatch.GetElapsedTime(t).TotalMicroseconds;
                if (answer.ContainerResponses.Count != 1 || !answer.ContainerResponses[0].Envs.TryGetValue("NVIDIA_VISIBLE_DEVICES", out var visible) || visible != _uuids[gpu])
                    throw new InvalidOperationException($"Allocate of {Request} IDs on GPU {gpu}: the answer does not give NVIDIA_VISIBLE_DEVICES={_uuids[gpu]}");
                return us;
            }
            case "options":
            {
                var t = Stopwatch.GetTimestamp();
                var answer = await _client.GetDevicePluginOptionsAsync(new Empty(), cancellationToken: ct);
                var us = Stopwatch.GetElapsedTime(t).TotalMicroseconds;
                if (!answer.GetPreferredAllocationAvailable)
                    throw new InvalidOperationException("GetDevicePluginOptions: GetPreferredAllocation no longer offered");
                return us;
            }
            default:
            {
                var t = Stopwatch.GetTimestamp();
                var answer = await _client.GetPreferredAllocationAsync(_preferred, cancellationToken: ct);
                var us = Stopwatch.GetElapsedTime(t).TotalMicroseconds;
                if (answer.ContainerResponses.Count != 1)
                    throw new InvalidOperationException($"GetPreferredAllocation: {answer.ContainerResponses.Count} container answers");
                var ids = answer.ContainerResponses[0].DeviceIDs;
                var seen = new HashSet<string>(StringComparer.Ordinal);
                foreach (var id in ids)
                {
                    if (!_available.Contains(id) || !seen.Add(id))
                        throw new InvalidOperationException($"GetPreferredAllocation: '{id}' is not available or given twice");
                }
                if (ids.Count != PreferredSize)
                    throw new InvalidOperationException($"GetPreferredAllocation: {ids.Count} IDs for a size of {PreferredSize}");
                return us;
            }
        }
    }

    /// <summary><paramref name="n"/> calls of the kind, <paramref name="concurrency"/> in flight; their latencies in µs.</summary>
    public async Task<double[]> RunAsync(string kind, int n, int concurrency, CancellationToken ct)
    {
        var latencies = new double[n];
        var next = -1;
        await Task.WhenAll(Enumerable.Range(0, concurrency).Select(_ => Task.Run(async () =>
        {
            for (var i = Interlocked.Increment(ref next); i < n; i = Interlocked.Increment(ref next))
                latencies[i] = await CallAsync(kind, ct);
        }, ct)));
        return latencies;
    }

    /// <summary>Nearest-rank p50 and p99 and the mean, as kubeletsim computes them.</summary>
    public static (double P50, double P99, double Mean) Summarize(IReadOnlyCollection<double> latencies)
    {
        var sorted = latencies.Order().ToArray();
        double Percentile(double p) => sorted[Math.Clamp((int)Math.Ceiling(sorted.Length * p) - 1, 0, sorted.Length - 1)];
        return (Percentile(0.50), Percentile(0.99), sorted.Average());
    }
}
