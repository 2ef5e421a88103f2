using Grpc.Core;
using MetaGpu.Tests.Kubelet.PodResources.V1;
using MetaGpu.Tests.Support;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace MetaGpu.Tests.Usage.PodResources;

/// <summary>The device IDs of one resource in a stand-in container.</summary>
public sealed record DeviceEntry(string Resource, params string[] Ids);

/// <summary>A container of a stand-in pod and the devices it holds.</summary>
public sealed record ContainerEntry(string Name, params DeviceEntry[] Devices);

/// <summary>A pod the stand-in kubelet reports.</summary>
public sealed record PodEntry(string Namespace, string Name, params ContainerEntry[] Containers);

/// <summary>
/// A stand-in for the kubelet's pod-resources v1 service, made of independent parts (Kestrel + Grpc.AspNetCore on
/// a Unix socket), test-only. <c>List</c> answers the pods last set, in the kubelet's shape: one
/// <c>ContainerDevices</c> per device ID, each with a NUMA topology. It counts calls and connections, can fail or
/// hang the next calls on demand, and can stop and start again on the same path as a restarting kubelet does.
/// </summary>
public sealed class StandInPodResources : IAsyncDisposable
{
    /// <summary>The kubelet's rate limiter's message (pkg/kubelet/apis/grpc/ratelimit.go).</summary>
    public const string RateLimitMessage = "rejected by rate limit";

    private readonly object _lock = new();
    private volatile ListPodResourcesResponse _answer = new();
    private WebApplication? _app;
    private int _calls;
    private int _connections;
    private int _failTimes;
    private Status _failWith;
    private int _hangTimes;

    private StandInPodResources(string socketPath) => SocketPath = socketPath;

    public string SocketPath { get; }

    /// <summary><c>List</c> calls received (failed and hung ones included).</summary>
    public int Calls => Volatile.Read(ref _calls);

    /// <summary>Connections accepted, over every start.</summary>
    public int Connections => Volatile.Read(ref _connections);

    public bool IsRunning => _app is not null;

    public static async Task<StandInPodResources> StartAsync(string socketPath, params PodEntry[] pods)
    {
        var server = new StandInPodResources(socketPath);
        server.SetPods(pods);
        await server.ListenAsync();
        return server;
    }

    /// <summary>Replaces what <c>List</c> answers (thread-safe; the next call sees it).</summary>
    public void SetPods(params PodEntry[] pods) => _answer = ToResponse(pods);

    /// <summary>Answers exactly this message (for fields <see cref="SetPods"/> cannot express). Do not change it afterwards.</summary>
    public void SetAnswer(ListPodResourcesResponse answer) => _answer = answer;

    /// <summary>The next <paramref name="times"/> calls fail with this status (RESOURCE_EXHAUSTED: the kubelet's rate-limit message).</summary>
    public void FailNext(StatusCode code, int times = 1, string? detail = null)
    {
        lock (_lock)
        {
            _failWith = new Status(code, detail ?? (code == StatusCode.ResourceExhausted ? RateLimitMessage : $"stand-in failure {code}"));
            _failTimes = times;
        }
    }

    /// <summary>The next <paramref name="times"/> calls never answer (until the client gives up or the server stops).</summary>
    public void HangNext(int times = 1)
    {
        lock (_lock)
            _hangTimes = times;
    }

    /// <summary>What a kubelet going away looks like: the server stops and its socket file is gone.</summary>
    public async Task StopAsync()
    {
        if (_app is { } app)
        {
            _app = null;
            await app.StopAsync();
            await app.DisposeAsync();
        }
        File.Delete(SocketPath);
    }

    /// <summary>A kubelet restart: stop, the socket is removed, a new server listens on the same path.</summary>
    public async Task RestartAsync()
    {
        await StopAsync();
        await ListenAsync();
    }

    /// <summary>Starts listening again after <see cref="StopAsync"/>.</summary>
    public Task StartAgainAsync() => _app is null ? ListenAsync() : Task.CompletedTask;

    public async ValueTask DisposeAsync() => await StopAsync();

    private async Task ListenAsync()
    {
        File.Delete(SocketPath);
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(2));
        builder.Services.AddGrpc(o => o.MaxSendMessageSize = null);
        builder.Services.AddSingleton(new Lister(this));
        builder.WebHost.ConfigureKestrel(o => o.ListenUnixSocket(SocketPath, l =>
        {
            l.Protocols = HttpProtocols.Http2;
            l.Use(next => context =>
            {
                Interlocked.Increment(ref _connections);
                return next(context);
            });
        }));
        var app = builder.Build();
        app.MapGrpcService<Lister>();
        try
        {
            await app.StartAsync();
        }
        catch
        {
            await app.DisposeAsync();
            throw;
        }
        _app = app;
    }

    /// <summary>The kubelet's shape: every device ID its own ContainerDevices, with the NUMA node it sits on.</summary>
    public static ListPodResourcesResponse ToResponse(IEnumerable<PodEntry> pods)
    {
        var response = new ListPodResourcesResponse();
        foreach (var pod in pods)
        {
            var resources = new MetaGpu.Tests.Kubelet.PodResources.V1.PodResources { Namespace = pod.Namespace, Name = pod.Name };
            foreach (var container in pod.Containers)
            {
                var c = new ContainerResources { Name = container.Name };
                foreach (var devices in container.Devices)
                {
                    foreach (var id in devices.Ids)
                    {
                        c.Devices.Add(new ContainerDevices
                        {
                            ResourceName = devices.Resource,
                            DeviceIds = { id },
                            Topology = new TopologyInfo { Nodes = { new NUMANode { ID = 0 } } },
                        });
                    }
                }
                resources.Containers.Add(c);
            }
            response.PodResources.Add(resources);
        }
        return response;
    }

    private sealed class Lister(StandInPodResources server) : PodResourcesLister.PodResourcesListerBase
    {
        public override async Task<ListPodResourcesResponse> List(ListPodResourcesRequest request, ServerCallContext context)
        {
            Interlocked.Increment(ref server._calls);
            Status? fail = null;
            var hang = false;
            lock (server._lock)
            {
                if (server._failTimes > 0)
                {
                    server._failTimes--;
                    fail = server._failWith;
                }
                else if (server._hangTimes > 0)
                {
                    server._hangTimes--;
                    hang = true;
                }
            }
            if (fail is { } status)
                throw new RpcException(status);
            if (hang)
            {
                try
                {
                    await Task.Delay(Timeout.Infinite, context.CancellationToken);
                }
                catch (OperationCanceledException)
                {
                    throw new RpcException(new Status(StatusCode.Cancelled, "the client gave up"));
                }
            }
            return server._answer;
        }
    }
}
