using System.Diagnostics;
using Grpc.Core;
using MetaGpu.Proto.DevicePlugin.V1Beta1;
using MetaGpu.Tests.Kubelet.PodResources.V1;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace MetaGpu.Bench;

/// <summary>
/// The soak's kubelet, made of independent parts (Kestrel + Grpc.AspNetCore): <c>Registration</c> on
/// <c>&lt;plugin dir&gt;/kubelet.sock</c> and the pod-resources <c>List</c> (the pods the soak holds) on its own socket.
/// Inside Register it dials the plugin back (<see cref="SoakPluginConnection"/>). A restart is the kubelet's: both
/// servers and the connection to the plugin go, every <c>*.sock</c> in the plugin directory is deleted, then a new
/// <c>kubelet.sock</c> listens.
/// </summary>
sealed class SoakKubelet(string pluginDirectory, string podResourcesSocket, Func<ListPodResourcesResponse> pods, SoakTally tally) : IAsyncDisposable
{
    public const string ResourceName = "cnvrg.io/metagpu";

    private readonly string _pluginDirectory = pluginDirectory;
    private readonly SoakTally _tally = tally;

    private readonly object _lock = new();
    private WebApplication? _app;
    private SoakPluginConnection? _current;
    private TaskCompletionSource<SoakPluginConnection> _next = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public string SocketPath => Path.Combine(_pluginDirectory, "kubelet.sock");

    /// <summary>The registered plugin's connection; null before the first registration and during a restart.</summary>
    public SoakPluginConnection? Current
    {
        get
        {
            lock (_lock)
                return _current;
        }
    }

    /// <summary>When the current kubelet.sock began to listen (a <see cref="Stopwatch"/> timestamp).</summary>
    public long ListenedAt { get; private set; }

    /// <summary>The next registration after the last listen.</summary>
    public Task<SoakPluginConnection> NextRegistration
    {
        get
        {
            lock (_lock)
                return _next.Task;
        }
    }

    /// <summary>When the last registration's Register arrived (a <see cref="Stopwatch"/> timestamp).</summary>
    public long RegisteredAt { get; private set; }

    /// <summary>Successful registrations, all told: one at the start and one per restart when the daemon behaves.</summary>
    public int Registrations => Volatile.Read(ref _registrations);

    private int _registrations;

    /// <summary>
    /// Waits (polling every 10 ms) until the registered plugin's listing satisfies <paramref name="condition"/>, whichever
    /// registration that is (a restart in between is fine); false past the timeout.
    /// </summary>
    public async Task<bool> WaitForListingAsync(Func<IReadOnlyDictionary<string, SoakDevice>, bool> condition, TimeSpan timeout, CancellationToken ct)
    {
        var deadline = Stopwatch.GetTimestamp() + (long)(timeout.TotalSeconds * Stopwatch.Frequency);
        while (!ct.IsCancellationRequested)
        {
            if (Current?.Devices is { } devices && condition(devices))
                return true;
            if (Stopwatch.GetTimestamp() > deadline)
                return false;
            await Task.Delay(10, CancellationToken.None);
        }
        return false;
    }

    public async Task ListenAsync()
    {
        File.Delete(podResourcesSocket);
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(2));
        builder.Services.AddGrpc(o => o.MaxSendMessageSize = null);
        builder.Services.AddSingleton(new RegistrationService(this));
        builder.Services.AddSingleton(new PodResourcesService(pods));
        builder.WebHost.ConfigureKestrel(o =>
        {
            o.ListenUnixSocket(SocketPath, l => l.Protocols = HttpProtocols.Http2);
            o.ListenUnixSocket(podResourcesSocket, l => l.Protocols = HttpProtocols.Http2);
        });
        var app = builder.Build();
        app.MapGrpcService<RegistrationService>();
        app.MapGrpcService<PodResourcesService>();
        lock (_lock)
            _next = new(TaskCreationOptions.RunContinuationsAsynchronously);
        try
        {
            await app.StartAsync();
        }
        catch
        {
            await app.DisposeAsync();
            throw;
        }
        ListenedAt = Stopwatch.GetTimestamp();
        _app = app;
    }

    /// <summary>A kubelet restart; returns once the new kubelet.sock listens.</summary>
    public async Task RestartAsync()
    {
        await StopAsync();
        foreach (var file in Directory.GetFiles(_pluginDirectory, "*.sock"))
            File.Delete(file);
        // The kubelet takes a moment to come back (kubeletsim waits 100 ms too).
        await Task.Delay(100);
        await ListenAsync();
    }

    private async Task StopAsync()
    {
        SoakPluginConnection? old;
        lock (_lock)
        {
            old = _current;
            _current = null;
        }
        old?.Dispose();
        if (_app is { } app)
        {
            _app = null;
            await app.StopAsync();
            await app.DisposeAsync();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        File.Delete(podResourcesSocket);
    }

    private sealed class RegistrationService(SoakKubelet kubelet) : Registration.RegistrationBase
    {
        public override async Task<Proto.DevicePlugin.V1Beta1.Empty> Register(RegisterRequest request, ServerCallContext context)
        {
            var arrived = Stopwatch.GetTimestamp();
            if (request.Version != "v1beta1" || request.ResourceName != ResourceName || request.Endpoint.Length == 0 || request.Endpoint.Contains('/'))
            {
                kubelet._tally.Fail($"Register refused: version {request.Version}, resource {request.ResourceName}, endpoint '{request.Endpoint}'");
                throw new RpcException(new Status(StatusCode.InvalidArgument, "not what this kubelet expects"));
            }
            var connection = await SoakPluginConnection.ConnectAsync(Path.Combine(kubelet._pluginDirectory, request.Endpoint));
            SoakPluginConnection? old;
            TaskCompletionSource<SoakPluginConnection> next;
            lock (kubelet._lock)
            {
                old = kubelet._current;
                kubelet._current = connection;
                kubelet.RegisteredAt = arrived;
                kubelet._registrations++;
                next = kubelet._next;
            }
            // The kubelet ends the old stream of a resource before it takes the new one.
            old?.Dispose();
            connection.StartListAndWatch(() => kubelet._tally.Add(SoakCount.Listings));
            next.TrySetResult(connection);
            return new Proto.DevicePlugin.V1Beta1.Empty();
        }
    }

    private sealed class PodResourcesService(Func<ListPodResourcesResponse> pods) : PodResourcesLister.PodResourcesListerBase
    {
        public override Task<ListPodResourcesResponse> List(ListPodResourcesRequest request, ServerCallContext context) => Task.FromResult(pods());
    }
}
