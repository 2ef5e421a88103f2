using System.Net.Sockets;
using Grpc.Core;
using Grpc.Net.Client;
using MetaGpu.Rpc.Grpc;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace MetaGpu.Tests.Interop;

/// <summary>Limits of one <see cref="InteropEnv"/>; the defaults are the same on both servers and both clients.</summary>
public sealed record InteropLimits
{
    public const int DefaultMaxMessageSize = 8 * 1024 * 1024;

    public int ServerMaxReceiveMessageSize { get; init; } = DefaultMaxMessageSize;
    public int ClientMaxReceiveMessageSize { get; init; } = DefaultMaxMessageSize;

    /// <summary>Header list size both servers accept (our default; Kestrel's own default is 32 KiB).</summary>
    public int ServerMaxHeaderListSize { get; init; } = 64 * 1024;
}

/// <summary>
/// One test's world: a fresh temp dir and Unix socket, the <see cref="EchoService"/> hosted there by the pair's
/// server, and the pair's client connected to it. Everything is torn down and deleted on dispose.
/// </summary>
public sealed class InteropEnv : IAsyncDisposable
{
    readonly string directory;
    IServerHost? server;
    IClientHost? client;

    public Pair Pair { get; }
    public EchoService Service { get; } = new();
    public string SocketPath { get; }

    public Echo.Echo.EchoClient Client => client!.Client;
    public CallInvoker Invoker => client!.Invoker;

    /// <summary>
    /// Connections made between client and server so far, where one side lets us count them
    /// (Grpc.Net.Client's connect callback, or Kestrel's connection middleware); null for our client to our server.
    /// </summary>
    public int? Connections => client?.Connections ?? server?.Connections;

    string step = "starting";
    readonly System.Diagnostics.Stopwatch clock = System.Diagnostics.Stopwatch.StartNew();

    /// <summary>Marks what the test is doing now, so a test that hangs says where.</summary>
    public void Step(string what) => Volatile.Write(ref step, $"{what} (at {clock.ElapsedMilliseconds} ms)");

    /// <summary>The last <see cref="Step"/>.</summary>
    public string CurrentStep => Volatile.Read(ref step);

    InteropEnv(Pair pair)
    {
        Pair = pair;
        directory = Path.Combine(Path.GetTempPath(), "mg-interop-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(directory);
        SocketPath = Path.Combine(directory, "echo.sock");
    }

    public static async Task<InteropEnv> StartAsync(Pair pair, InteropLimits? limits = null)
    {
        limits ??= new InteropLimits();
        var env = new InteropEnv(pair);
        try
        {
            env.server = pair.Server() switch
            {
                ServerKind.Ours => OurServerHost.Start(env.Service, env.SocketPath, limits),
                _ => await KestrelServerHost.StartAsync(env.Service, env.SocketPath, limits),
            };
            env.client = pair.Client() switch
            {
                ClientKind.Ours => new OurClientHost(env.SocketPath, limits),
                _ => new GrpcNetClientHost(env.SocketPath, limits),
            };
            return env;
        }
        catch
        {
            await env.DisposeAsync();
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        var errors = new List<Exception>();
        try
        {
            client?.Dispose();
        }
        catch (Exception e)
        {
            errors.Add(e);
        }
        try
        {
            if (server is not null)
                await server.DisposeAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(10));
        }
        catch (Exception e)
        {
            errors.Add(e);
        }
        try
        {
            Directory.Delete(directory, recursive: true);
        }
        catch (DirectoryNotFoundException)
        {
        }
        catch (Exception e)
        {
            errors.Add(e);
        }
        if (errors.Count > 0)
            throw new AggregateException($"tearing down {Pair} failed", errors);
    }

    interface IServerHost : IAsyncDisposable
    {
        int? Connections { get; }
    }

    interface IClientHost : IDisposable
    {
        Echo.Echo.EchoClient Client { get; }
        CallInvoker Invoker { get; }
        int? Connections { get; }
    }

    sealed class OurServerHost(GrpcServer server) : IServerHost
    {
        public int? Connections => null;

        public static OurServerHost Start(EchoService service, string socketPath, InteropLimits limits)
        {
            var server = new GrpcServer(new GrpcServerOptions
            {
                MaxReceiveMessageSize = limits.ServerMaxReceiveMessageSize,
                MaxSendMessageSize = InteropLimits.DefaultMaxMessageSize,
                MaxHeaderListSize = limits.ServerMaxHeaderListSize,
                // A daemon of its own: interop tests running side by side must not share one budget.
                MemoryBudget = new MetaGpu.Rpc.Http2.MemoryBudget(MetaGpu.Rpc.Http2.MemoryBudget.DefaultLimit),
            });
            server.AddService(Echo.Echo.BindService(service));
            server.ListenUnix(socketPath);
            return new OurServerHost(server);
        }

        public async ValueTask DisposeAsync()
        {
            try
            {
                await server.ShutdownAsync(TimeSpan.FromSeconds(1));
            }
            finally
            {
                await server.DisposeAsync();
            }
        }
    }

    sealed class KestrelServerHost(WebApplication app) : IServerHost
    {
        int connections;

        public int? Connections => Volatile.Read(ref connections);

        public static async Task<KestrelServerHost> StartAsync(EchoService service, string socketPath, InteropLimits limits)
        {
            var builder = WebApplication.CreateSlimBuilder();
            builder.Logging.SetMinimumLevel(LogLevel.Warning);
            builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(2));
            builder.Services.AddSingleton(service);
            builder.Services.AddGrpc(o =>
            {
                o.MaxReceiveMessageSize = limits.ServerMaxReceiveMessageSize;
                o.MaxSendMessageSize = InteropLimits.DefaultMaxMessageSize;
            });

            KestrelServerHost? host = null;
            builder.WebHost.ConfigureKestrel(o =>
            {
                o.Limits.MaxRequestHeadersTotalSize = limits.ServerMaxHeaderListSize;
                o.ListenUnixSocket(socketPath, l =>
                {
                    l.Protocols = HttpProtocols.Http2;
                    l.Use(next => context =>
                    {
                        if (host is not null)
                            Interlocked.Increment(ref host.connections);
                        return next(context);
                    });
                });
            });

            var app = builder.Build();
            app.MapGrpcService<EchoService>();
            host = new KestrelServerHost(app);
            try
            {
                await app.StartAsync();
            }
            catch
            {
                await app.DisposeAsync();
                throw;
            }
            return host;
        }

        public async ValueTask DisposeAsync()
        {
            try
            {
                await app.StopAsync();
            }
            finally
            {
                await app.DisposeAsync();
            }
        }
    }

    sealed class OurClientHost : IClientHost
    {
        readonly UnixChannel channel;

        public OurClientHost(string socketPath, InteropLimits limits)
        {
            channel = new UnixChannel(socketPath, new UnixChannelOptions
            {
                MaxReceiveMessageSize = limits.ClientMaxReceiveMessageSize,
                MaxSendMessageSize = InteropLimits.DefaultMaxMessageSize,
            });
            Client = new Echo.Echo.EchoClient(channel);
            Invoker = channel.CreateCallInvoker();
        }

        public Echo.Echo.EchoClient Client { get; }
        public CallInvoker Invoker { get; }
        public int? Connections => channel.ConnectionsOpened;

        public void Dispose() => channel.Dispose();
    }

    sealed class GrpcNetClientHost : IClientHost
    {
        readonly GrpcChannel channel;
        int connections;

        public GrpcNetClientHost(string socketPath, InteropLimits limits)
        {
            var handler = new SocketsHttpHandler
            {
                EnableMultipleHttp2Connections = false,
                ConnectCallback = async (_, ct) =>
                {
                    Interlocked.Increment(ref connections);
                    var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                    try
                    {
                        await socket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath), ct);
                        return new NetworkStream(socket, ownsSocket: true);
                    }
                    catch
                    {
                        socket.Dispose();
                        throw;
                    }
                },
            };
            channel = GrpcChannel.ForAddress("http://localhost", new GrpcChannelOptions
            {
                HttpHandler = handler,
                MaxReceiveMessageSize = limits.ClientMaxReceiveMessageSize,
                MaxSendMessageSize = InteropLimits.DefaultMaxMessageSize,
            });
            Client = new Echo.Echo.EchoClient(channel);
            Invoker = channel.CreateCallInvoker();
        }

        public Echo.Echo.EchoClient Client { get; }
        public CallInvoker Invoker { get; }
        public int? Connections => Volatile.Read(ref connections);

        public void Dispose() => channel.Dispose();
    }
}

/// <summary>Runs a test body against a fresh <see cref="InteropEnv"/>, bounded in time so a broken peer fails the test instead of hanging the run.</summary>
public static class InteropHarness
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(30);

    public static async Task RunAsync(Pair pair, Func<InteropEnv, Task> body, InteropLimits? limits = null, TimeSpan? timeout = null)
    {
        var env = await InteropEnv.StartAsync(pair, limits);
        var limit = timeout ?? DefaultTimeout;
        Exception? failure = null;
        var run = body(env);
        if (await Task.WhenAny(run, Task.Delay(limit)) != run)
        {
            failure = new TimeoutException($"{pair}: the test did not finish within {limit.TotalSeconds} s; last step: {env.CurrentStep}");
            _ = run.ContinueWith(t => t.Exception, TaskScheduler.Default); // observed: it fails once teardown pulls the rug
        }
        else
        {
            try
            {
                await run;
            }
            catch (Exception e)
            {
                failure = e;
            }
        }

        try
        {
            await env.DisposeAsync();
        }
        catch (Exception e) when (failure is not null)
        {
            // Keep the test's own failure first; teardown trouble is secondary.
            failure = new AggregateException(failure, e);
        }

        if (failure is not null)
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(failure);
    }

    /// <summary>A fresh call id, sent as <see cref="EchoService.CallIdHeader"/>.</summary>
    public static (string Id, Metadata Headers) NewCall()
    {
        var id = Guid.NewGuid().ToString("N");
        return (id, new Metadata { { EchoService.CallIdHeader, id } });
    }
}
