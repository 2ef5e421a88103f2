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
using EchoGrpc = MetaGpu.Tests.Echo.Echo;

namespace MetaGpu.Bench;

public enum ServerKind { Ours, Kestrel }

public enum ClientKind { Ours, GrpcNet }

/// <summary>One measured client/server combination.</summary>
public sealed record Config(string Name, string Label, ClientKind Client, ServerKind Server, bool Streaming)
{
    public static readonly Config OursToOurs = new("ours->ours", "our client  -> our server", ClientKind.Ours, ServerKind.Ours, Streaming: true);
    public static readonly Config Reference = new("grpcnet->kestrel", "Grpc.Net    -> Kestrel (ref)", ClientKind.GrpcNet, ServerKind.Kestrel, Streaming: true);
    public static readonly Config GrpcNetToOurs = new("grpcnet->ours", "Grpc.Net    -> our server", ClientKind.GrpcNet, ServerKind.Ours, Streaming: false);
}

/// <summary>Message size limits for every peer: room for the 1 MiB streaming messages.</summary>
static class Limits
{
    public const int MaxMessageSize = 4 * 1024 * 1024;
}

/// <summary>A running server on a Unix socket.</summary>
public interface IBenchServer : IAsyncDisposable
{
    static async Task<IBenchServer> StartAsync(ServerKind kind, string socketPath) => kind switch
    {
        ServerKind.Ours => OurServer.Start(socketPath),
        _ => await KestrelServer.StartAsync(socketPath),
    };
}

sealed class OurServer(GrpcServer server) : IBenchServer
{
    public static OurServer Start(string socketPath)
    {
        var server = new GrpcServer(new GrpcServerOptions
        {
            MaxReceiveMessageSize = Limits.MaxMessageSize,
            MaxSendMessageSize = Limits.MaxMessageSize,
        });
        try
        {
            server.AddService(EchoGrpc.BindService(new BenchEchoService()));
            server.ListenUnix(socketPath);
            return new OurServer(server);
        }
        catch
        {
            try
            {
                server.DisposeAsync().AsTask().Wait(TimeSpan.FromSeconds(5));
            }
            catch (Exception)
            {
                // The start failure is the one to report.
            }
            throw;
        }
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

sealed class KestrelServer(WebApplication app) : IBenchServer
{
    public static async Task<KestrelServer> StartAsync(string socketPath)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(2));
        builder.Services.AddSingleton(new BenchEchoService());
        builder.Services.AddGrpc(o =>
        {
            o.MaxReceiveMessageSize = Limits.MaxMessageSize;
            o.MaxSendMessageSize = Limits.MaxMessageSize;
        });
        builder.WebHost.ConfigureKestrel(o => o.ListenUnixSocket(socketPath, l => l.Protocols = HttpProtocols.Http2));

        var app = builder.Build();
        app.MapGrpcService<BenchEchoService>();
        try
        {
            await app.StartAsync();
        }
        catch
        {
            await app.DisposeAsync();
            throw;
        }
        return new KestrelServer(app);
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

/// <summary>A client on one connection to the server's socket.</summary>
public sealed class BenchClient : IDisposable
{
    readonly IDisposable channel;

    BenchClient(ChannelBase channel, IDisposable owner)
    {
        this.channel = owner;
        Echo = new EchoGrpc.EchoClient(channel);
    }

    public EchoGrpc.EchoClient Echo { get; }

    public static BenchClient Create(ClientKind kind, string socketPath)
    {
        if (kind == ClientKind.Ours)
        {
            var ours = new UnixChannel(socketPath, new UnixChannelOptions
            {
                MaxReceiveMessageSize = Limits.MaxMessageSize,
                MaxSendMessageSize = Limits.MaxMessageSize,
            });
            return new BenchClient(ours, ours);
        }

        var grpcNet = GrpcNetChannel(socketPath);
        return new BenchClient(grpcNet, grpcNet);
    }

    /// <summary>Grpc.Net.Client on one HTTP/2 connection to a Unix socket (also the kubelet benchmark's second driver).</summary>
    public static GrpcChannel GrpcNetChannel(string socketPath)
    {
        var handler = new SocketsHttpHandler
        {
            EnableMultipleHttp2Connections = false,
            ConnectCallback = async (_, ct) =>
            {
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
        return GrpcChannel.ForAddress("http://localhost", new GrpcChannelOptions
        {
            HttpHandler = handler,
            MaxReceiveMessageSize = Limits.MaxMessageSize,
            MaxSendMessageSize = Limits.MaxMessageSize,
        });
    }

    public void Dispose() => channel.Dispose();
}
