using System.Diagnostics;
using System.Globalization;
using Grpc.Core;
using MetaGpu.DevicePlugin;
using MetaGpu.Proto.DevicePlugin.V1Beta1;
using MetaGpu.Tests.Kubelet.PodResources.V1;

namespace MetaGpu.Bench;

/// <summary>
/// Pods coming and going as the kubelet admits them, on its one connection to the plugin. A pod asks for 1 to 30
/// meta-devices; it is admitted when at least that many free healthy ones are listed (admission by count), and then
/// the kubelet asks GetPreferredAllocation (every free ID available, nothing must-include) and Allocates its answer.
/// It lives 2 to 8 s; then its IDs are free again. The pods held are what the pod-resources <c>List</c> answers.
///
/// Only shares 0-49 of each GPU are offered: those IDs exist under both of the soak's configs (metaGpus 100 and 50),
/// so a config change never turns a request into one for devices that are gone, and every answer is checked strictly.
/// A GPU being flapped is left out from just before its XID until it is listed healthy again (<see cref="Exclude"/>),
/// so no Allocate meets a GPU the daemon has just marked unhealthy.
/// </summary>
sealed class SoakPods(SoakKubelet kubelet, SoakTally tally)
{
    public const int UsableShares = 50;
    public const int MaxRequest = 30;
    public static readonly TimeSpan Arrival = TimeSpan.FromMilliseconds(250);
    private const int MinLifetimeMs = 2000, MaxLifetimeMs = 8000;

    private sealed record Pod(string Name, string[] Ids, long LeavesAt);

    private readonly Random _random = new(1);
    private readonly object _lock = new();
    private readonly List<Pod> _pods = [];
    private readonly HashSet<string> _held = new(StringComparer.Ordinal);
    private readonly HashSet<string> _excluded = new(StringComparer.Ordinal);
    private volatile ListPodResourcesResponse _podResources = new();
    private int _created;

    /// <summary>The pods held now, in the kubelet's pod-resources shape.</summary>
    public ListPodResourcesResponse PodResources() => _podResources;

    /// <summary>GPU <paramref name="uuid"/>'s devices are offered to no pod until <see cref="Include"/>.</summary>
    public void Exclude(string uuid)
    {
        lock (_lock)
            _excluded.Add(uuid);
    }

    public void Include(string uuid)
    {
        lock (_lock)
            _excluded.Remove(uuid);
    }

    /// <summary>One step: the pods whose time is up leave, then one pod arrives.</summary>
    public async Task StepAsync(CancellationToken ct)
    {
        Depart();
        var connection = kubelet.Current;
        if (connection?.Devices is not { } devices)
        {
            tally.Fail("a pod arrived and no plugin was registered with a device list");
            return;
        }
        int request;
        List<string> free;
        lock (_lock)
        {
            request = _random.Next(1, MaxRequest + 1);
            free = [.. devices.Where(d => d.Value.Healthy && d.Value.Share < UsableShares && !_excluded.Contains(d.Value.Uuid) && !_held.Contains(d.Key)).Select(d => d.Key)];
        }
        if (free.Count < request)
        {
            tally.Add(SoakCount.TurnedAway);
            return;
        }
        var phase = "GetPreferredAllocation";
        try
        {
            var preferred = await connection.Client.GetPreferredAllocationAsync(new PreferredAllocationRequest
            {
                ContainerRequests = { new ContainerPreferredAllocationRequest { AvailableDeviceIDs = { free }, AllocationSize = request } },
            }, deadline: DateTime.UtcNow.AddSeconds(10), cancellationToken: ct);
            var ids = CheckPreferred(preferred, free, request);
            phase = "Allocate";
            var answer = await connection.Client.AllocateAsync(new AllocateRequest { ContainerRequests = { new ContainerAllocateRequest { DevicesIds = { ids } } } },
                deadline: DateTime.UtcNow.AddSeconds(10), cancellationToken: ct);
            CheckAllocate(answer, ids, devices);
            lock (_lock)
            {
                var pod = new Pod(string.Create(CultureInfo.InvariantCulture, $"pod-{++_created}"), ids,
                    Stopwatch.GetTimestamp() + _random.Next(MinLifetimeMs, MaxLifetimeMs + 1) * Stopwatch.Frequency / 1000);
                _pods.Add(pod);
                _held.UnionWith(ids);
                Publish();
            }
            tally.Add(SoakCount.Admitted);
        }
        catch (Exception e) when (ct.IsCancellationRequested && e is OperationCanceledException or RpcException)
        {
            // The soak is ending.
        }
        catch (Exception e) when (e is RpcException or InvalidOperationException)
        {
            tally.Fail($"{phase} of {request} meta-devices: {e.Message}");
        }
    }

    private void Depart()
    {
        var now = Stopwatch.GetTimestamp();
        lock (_lock)
        {
            var gone = _pods.RemoveAll(p =>
            {
                if (p.LeavesAt > now)
                    return false;
                _held.ExceptWith(p.Ids);
                return true;
            });
            if (gone == 0)
                return;
            Publish();
            tally.Add(SoakCount.Departed, gone);
        }
    }

    private static string[] CheckPreferred(PreferredAllocationResponse answer, List<string> free, int request)
    {
        if (answer.ContainerResponses.Count != 1)
            throw new InvalidOperationException($"{answer.ContainerResponses.Count} container answers to one container");
        var ids = answer.ContainerResponses[0].DeviceIDs.ToArray();
        var offered = new HashSet<string>(free, StringComparer.Ordinal);
        if (ids.Length != request || ids.Distinct(StringComparer.Ordinal).Count() != ids.Length || !ids.All(offered.Contains))
            throw new InvalidOperationException($"the answer is {ids.Length} IDs, not {request} distinct ones of those offered");
        return ids;
    }

    /// <summary>One container answer naming exactly the GPUs of the IDs, and their count.</summary>
    private static void CheckAllocate(AllocateResponse answer, string[] ids, IReadOnlyDictionary<string, SoakDevice> devices)
    {
        if (answer.ContainerResponses.Count != 1)
            throw new InvalidOperationException($"{answer.ContainerResponses.Count} container answers to one container");
        var envs = answer.ContainerResponses[0].Envs;
        var uuids = ids.Select(id => devices[id].Uuid).ToHashSet(StringComparer.Ordinal);
        if (!envs.TryGetValue("NVIDIA_VISIBLE_DEVICES", out var visible) || !visible.Split(',').ToHashSet(StringComparer.Ordinal).SetEquals(uuids))
            throw new InvalidOperationException($"NVIDIA_VISIBLE_DEVICES is '{visible}', not the GPUs of the IDs ({string.Join(",", uuids)})");
        if (!envs.TryGetValue("METAGPU_REQUEST", out var count) || count != ids.Length.ToString(CultureInfo.InvariantCulture))
            throw new InvalidOperationException($"METAGPU_REQUEST is '{count}' for {ids.Length} IDs");
    }

    /// <summary>The kubelet's shape: every device ID its own ContainerDevices, with its GPU's NUMA node. Under _lock.</summary>
    private void Publish()
    {
        var response = new ListPodResourcesResponse();
        foreach (var pod in _pods)
        {
            var container = new ContainerResources { Name = "main" };
            foreach (var id in pod.Ids)
            {
                container.Devices.Add(new ContainerDevices
                {
                    ResourceName = SoakKubelet.ResourceName,
                    DeviceIds = { id },
                    Topology = new MetaGpu.Tests.Kubelet.PodResources.V1.TopologyInfo { Nodes = { new MetaGpu.Tests.Kubelet.PodResources.V1.NUMANode { ID = SoakGpus.NumaNode(MetaDeviceId.TryParse(id, out var m) ? m.Value.GpuIndex : 0) } } },
                });
            }
            response.PodResources.Add(new MetaGpu.Tests.Kubelet.PodResources.V1.PodResources { Namespace = "soak", Name = pod.Name, Containers = { container } });
        }
        _podResources = response;
    }
}
