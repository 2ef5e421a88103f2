using System.Collections.Concurrent;
using System.Net.Sockets;
using Grpc.Core;
using Grpc.Net.Client;
using MetaGpu.Proto.DevicePlugin.V1Beta1;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace MetaGpu.Tests.DevicePlugin;

/// <summary>
/// A stand-in kubelet made of independent parts: Kestrel + Grpc.AspNetCore serve <c>Registration</c> on
/// <c>kubelet.sock</c>, and Grpc.Net.Client calls the plugin back, as the real kubelet does: inside Register it
/// dials the endpoint and asks for the options, then keeps ListAndWatch open and admits pods with
/// GetPreferredAllocation and Allocate. A restart deletes every socket in the directory, as the kubelet does.
/// </summary>
public sealed class TestKubelet : IAsyncDisposable
{
    private readonly ConcurrentDictionary<string, PluginView> _plugins = new(StringComparer.Ordinal);
    private WebApplication? _app;

    private TestKubelet(string directory) => Directory = directory;

    public string Directory { get; }
    public string SocketPath => Path.Combine(Directory, "kubelet.sock");
    public int Registrations => _registrations;
    private int _registrations;

    /// <summary>Registration requests the kubelet turned down, with its message.</summary>
    public ConcurrentQueue<string> Rejections { get; } = new();

    public static async Task<TestKubelet> StartAsync(string directory)
    {
        var kubelet = new TestKubelet(directory);
        await kubelet.ListenAsync();
        return kubelet;
    }

    private async Task ListenAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(o => o.ListenUnixSocket(SocketPath, l => l.Protocols = HttpProtocols.Http2));
        builder.Services.AddGrpc();
        builder.Services.AddSingleton(new RegistrationService(this));
        _app = builder.Build();
        _app.MapGrpcService<RegistrationService>();
        await _app.StartAsync();
    }

    /// <summary>What a kubelet restart looks like to a plugin: the process goes, every socket file is deleted, a new kubelet.sock appears.</summary>
    public async Task RestartAsync()
    {
        await StopAsync();
        foreach (var file in System.IO.Directory.GetFiles(Directory, "*.sock"))
            File.Delete(file);
        await ListenAsync();
    }

    private async Task StopAsync()
    {
        foreach (var p in _plugins.Values)
            p.Close();
        _plugins.Clear();
        if (_app is not null)
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
            _app = null;
        }
    }

    public PluginView? Plugin(string resource) => _plugins.TryGetValue(resource, out var p) ? p : null;

    /// <summary>Waits until the resource is registered and its device list satisfies <paramref name="condition"/>.</summary>
    public async Task<IReadOnlyDictionary<string, Device>> WaitForDevicesAsync(string resource, Func<IReadOnlyDictionary<string, Device>, bool> condition, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            if (Plugin(resource) is { } p && p.Devices is { } devices && condition(devices))
                return devices;
            if (DateTime.UtcNow > deadline)
            {
                var state = Plugin(resource)?.Devices is { } d
                    ? $"{d.Count} devices, {d.Values.Count(x => x.Health != "Healthy")} unhealthy"
                    : "not registered";
                throw new TimeoutException($"{resource}: device list did not reach the expected state within {timeout.TotalSeconds:0.#} s (now: {state})");
            }
            await Task.Delay(20);
        }
    }

    public async ValueTask DisposeAsync() => await StopAsync();

    private sealed class RegistrationService(TestKubelet kubelet) : Registration.RegistrationBase
    {
        public override async Task<Empty> Register(RegisterRequest request, ServerCallContext context)
        {
            if (request.Version != "v1beta1")
            {
                kubelet.Rejections.Enqueue($"version {request.Version}");
                throw new RpcException(new Status(StatusCode.Unknown, $"Requested device plugin version {request.Version} is not supported"));
            }
            if (!request.ResourceName.Contains('/'))
            {
                kubelet.Rejections.Enqueue($"resource {request.ResourceName}");
                throw new RpcException(new Status(StatusCode.Unknown, $"invalid name of device plugin socket: {request.ResourceName}"));
            }
            // The kubelet closes the old stream of a resource before it takes the new endpoint.
            if (kubelet._plugins.TryRemove(request.ResourceName, out var old))
                old.Close();
            var view = new PluginView(request.ResourceName, Path.Combine(kubelet.Directory, request.Endpoint));
            // Before answering, the kubelet dials the plugin and asks for its options (10 s timeout).
            view.Options = await view.Client.GetDevicePluginOptionsAsync(new Empty(), deadline: DateTime.UtcNow.AddSeconds(10));
            kubelet._plugins[request.ResourceName] = view;
            view.StartListAndWatch();
            Interlocked.Increment(ref kubelet._registrations);
            return new Empty();
        }
    }
}

/// <summary>What the kubelet knows of one registered resource, and how it admits pods to it.</summary>
public sealed class PluginView
{
    private readonly GrpcChannel _channel;
    private readonly CancellationTokenSource _closed = new();
    private readonly HashSet<string> _allocated = new(StringComparer.Ordinal);
    private volatile IReadOnlyDictionary<string, Device>? _devices;

    public PluginView(string resource, string socketPath)
    {
        Resource = resource;
        _channel = GrpcChannel.ForAddress("http://localhost", new GrpcChannelOptions
        {
            DisposeHttpClient = true,
            HttpHandler = new SocketsHttpHandler
            {
                ConnectCallback = async (_, ct) =>
                {
                    var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                    await s.ConnectAsync(new UnixDomainSocketEndPoint(socketPath), ct);
                    return new NetworkStream(s, ownsSocket: true);
                },
            },
        });
        Client = new Proto.DevicePlugin.V1Beta1.DevicePlugin.DevicePluginClient(_channel);
    }

    public string Resource { get; }
    public Proto.DevicePlugin.V1Beta1.DevicePlugin.DevicePluginClient Client { get; }
    public DevicePluginOptions? Options { get; set; }

    /// <summary>The last full snapshot ListAndWatch sent; null before the first.</summary>
    public IReadOnlyDictionary<string, Device>? Devices => _devices;

    public int Snapshots => _snapshots;
    private int _snapshots;

    /// <summary>Set when the plugin ended the stream: the kubelet then treats every device as unhealthy.</summary>
    public bool StreamEnded { get; private set; }

    public void StartListAndWatch()
    {
        _ = Task.Run(async () =>
        {
            try
            {
                using var call = Client.ListAndWatch(new Empty(), cancellationToken: _closed.Token);
                while (await call.ResponseStream.MoveNext(_closed.Token))
                {
                    _devices = call.ResponseStream.Current.Devices.ToDictionary(d => d.ID, StringComparer.Ordinal);
                    Interlocked.Increment(ref _snapshots);
                }
            }
            catch (Exception)
            {
            }
            StreamEnded = true;
        });
    }

    /// <summary>Admits a container the way the kubelet's device manager does and returns what the plugin answered.</summary>
    public async Task<(IReadOnlyList<string> Ids, ContainerAllocateResponse Response)> AdmitAsync(int count)
    {
        var devices = Devices ?? throw new InvalidOperationException("no device list yet");
        List<string> available;
        lock (_allocated)
            available = devices.Values.Where(d => d.Health == "Healthy" && !_allocated.Contains(d.ID)).Select(d => d.ID).ToList();
        if (available.Count < count)
            throw new InvalidOperationException($"only {available.Count} healthy devices free, {count} requested");

        var chosen = new List<string>();
        if (Options?.GetPreferredAllocationAvailable == true && available.Count > count)
        {
            var preferred = await Client.GetPreferredAllocationAsync(new PreferredAllocationRequest
            {
                ContainerRequests = { new ContainerPreferredAllocationRequest { AvailableDeviceIDs = { available }, AllocationSize = count } },
            });
            // The kubelet keeps only what is really available and fills any shortfall itself.
            chosen.AddRange(preferred.ContainerResponses[0].DeviceIDs.Where(available.Contains).Distinct().Take(count));
        }
        foreach (var id in available)
        {
            if (chosen.Count >= count)
                break;
            if (!chosen.Contains(id))
                chosen.Add(id);
        }
        if (chosen.Count == available.Count && chosen.Count > count)
            chosen = chosen.Take(count).ToList();

        var response = await Client.AllocateAsync(new AllocateRequest { ContainerRequests = { new ContainerAllocateRequest { DevicesIds = { chosen } } } });
        lock (_allocated)
            _allocated.UnionWith(chosen);
        return (chosen, response.ContainerResponses[0]);
    }

    public void Release(IEnumerable<string> ids)
    {
        lock (_allocated)
            _allocated.ExceptWith(ids);
    }

    public void Close()
    {
        _closed.Cancel();
        _channel.Dispose();
    }
}
