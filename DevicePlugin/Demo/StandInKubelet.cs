using System.Collections.Concurrent;
using Grpc.Core;
using MetaGpu.Proto.DevicePlugin.V1Beta1;
using MetaGpu.Rpc.Grpc;

namespace MetaGpu.DevicePlugin.Demo;

/// <summary>
/// Just enough of a kubelet's device manager for the demo, on MetaGPU's own transport: it serves Registration on
/// <c>kubelet.sock</c>, dials each plugin back inside Register (as the kubelet does), keeps its ListAndWatch stream,
/// and admits containers with GetPreferredAllocation and Allocate.
/// </summary>
public sealed class StandInKubelet : IAsyncDisposable
{
    private readonly GrpcServer _server;
    private readonly ConcurrentDictionary<string, Resource> _resources = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _stop = new();

    public StandInKubelet(string pluginDirectory)
    {
        PluginDirectory = pluginDirectory;
        var registration = new RegistrationService(this);
        _server = new GrpcServer().AddUnary(KubeletApi.Register, registration.Register);
        _server.ListenUnix(Path.Combine(pluginDirectory, PluginManager.KubeletSocketName));
    }

    public string PluginDirectory { get; }

    /// <summary>Raised on every ListAndWatch snapshot: (resource, devices by ID).</summary>
    public event Action<string, IReadOnlyDictionary<string, Device>>? DevicesChanged;

    public IReadOnlyDictionary<string, Device>? Devices(string resource) => _resources.TryGetValue(resource, out var r) ? r.Devices : null;

    /// <summary>
    /// Admits one container asking for <paramref name="count"/> devices: the plugin's preference among the healthy,
    /// unallocated devices, topped up by the kubelet if it falls short, then Allocate.
    /// </summary>
    public async Task<(IReadOnlyList<string> Ids, ContainerAllocateResponse Response)> AdmitAsync(string resource, int count)
    {
        var r = _resources.TryGetValue(resource, out var found) ? found : throw new InvalidOperationException($"{resource} is not registered");
        var available = new List<string>();
        lock (r.Allocated)
        {
            foreach (var d in (r.Devices ?? new Dictionary<string, Device>()).Values)
            {
                if (d.Health == DeviceList.Healthy && !r.Allocated.Contains(d.ID))
                    available.Add(d.ID);
            }
        }
        if (available.Count < count)
            throw new InvalidOperationException($"{count} {resource} requested, {available.Count} free");
        var chosen = new List<string>();
        var taken = new HashSet<string>(StringComparer.Ordinal);
        if (r.Options.GetPreferredAllocationAvailable && available.Count > count)
        {
            var preferred = await r.Channel.UnaryAsync(KubeletApi.GetPreferredAllocation, new PreferredAllocationRequest
            {
                ContainerRequests = { new ContainerPreferredAllocationRequest { AvailableDeviceIDs = { available }, AllocationSize = count } },
            }, default).ConfigureAwait(false);
            // The preferred IDs that are free, each once, at most count of them.
            var free = new HashSet<string>(available, StringComparer.Ordinal);
            foreach (var id in preferred.ContainerResponses[0].DeviceIDs)
            {
                if (chosen.Count == count)
                    break;
                if (free.Contains(id) && taken.Add(id))
                    chosen.Add(id);
            }
        }
        // Topped up from the rest of the available ones, in their order.
        foreach (var id in available)
        {
            if (chosen.Count == count)
                break;
            if (taken.Add(id))
                chosen.Add(id);
        }
        var response = await r.Channel.UnaryAsync(KubeletApi.Allocate, new AllocateRequest
        {
            ContainerRequests = { new ContainerAllocateRequest { DevicesIds = { chosen } } },
        }, default).ConfigureAwait(false);
        lock (r.Allocated)
            r.Allocated.UnionWith(chosen);
        return (chosen, response.ContainerResponses[0]);
    }

    /// <summary>The container ended: its devices are free again.</summary>
    public void Release(string resource, IEnumerable<string> ids)
    {
        if (_resources.TryGetValue(resource, out var r))
        {
            lock (r.Allocated)
                r.Allocated.ExceptWith(ids);
        }
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        foreach (var r in _resources.Values)
            r.Channel.Dispose();
        await _server.DisposeAsync().ConfigureAwait(false);
    }

    private sealed class Resource(string name, UnixChannel channel, DevicePluginOptions options)
    {
        public string Name { get; } = name;
        public UnixChannel Channel { get; } = channel;
        public UnixCallInvoker Calls { get; } = new(channel);
        public DevicePluginOptions Options { get; } = options;
        public HashSet<string> Allocated { get; } = new(StringComparer.Ordinal);
        public volatile IReadOnlyDictionary<string, Device>? Devices;
    }

    private sealed class RegistrationService(StandInKubelet kubelet) : Registration.RegistrationBase
    {
        public override async Task<Empty> Register(RegisterRequest request, ServerCallContext context)
        {
            if (request.Version != PluginEndpoint.ApiVersion)
                throw new RpcException(new Status(StatusCode.Unknown, $"Requested device plugin version {request.Version} is not supported"));
            var channel = new UnixChannel(Path.Combine(kubelet.PluginDirectory, request.Endpoint));
            var options = await channel.UnaryAsync(KubeletApi.GetDevicePluginOptions, new Empty(), new CallOptions(deadline: DateTime.UtcNow.AddSeconds(10))).ConfigureAwait(false);
            var resource = new Resource(request.ResourceName, channel, options);
            if (kubelet._resources.TryRemove(request.ResourceName, out var old))
                old.Channel.Dispose();
            kubelet._resources[request.ResourceName] = resource;
            _ = Task.Run(() => WatchAsync(resource));
            return new Empty();
        }

        private async Task WatchAsync(Resource resource)
        {
            try
            {
                using var call = resource.Calls.AsyncServerStreamingCall(KubeletApi.ListAndWatch, null, new CallOptions(cancellationToken: kubelet._stop.Token), new Empty());
                while (await call.ResponseStream.MoveNext(kubelet._stop.Token).ConfigureAwait(false))
                {
                    var devices = new Dictionary<string, Device>(StringComparer.Ordinal);
                    foreach (var d in call.ResponseStream.Current.Devices)
                        devices.Add(d.ID, d);
                    resource.Devices = devices;
                    kubelet.DevicesChanged?.Invoke(resource.Name, devices);
                }
            }
            catch (Exception e) when (e is RpcException or OperationCanceledException or ObjectDisposedException)
            {
                // The plugin went away or the demo ends: a kubelet marks the devices unhealthy; the demo is done.
            }
        }
    }
}
