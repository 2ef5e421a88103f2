using System.Net.Sockets;
using Grpc.Core;
using Grpc.Net.Client;
using MetaGpu.Proto.DevicePlugin.V1Beta1;
using MetaGpu.Proto.Health.V1;

namespace MetaGpu.Fuzz.Capture;

/// <summary>
/// Seeds the corpora with real traffic: Grpc.Net.Client (an independent HTTP/2 and gRPC implementation) calls every
/// method of our server through a <see cref="RecordingRelay"/>, one connection per scenario, and
/// <see cref="SeedWriter"/> cuts what went over the wire into each target's input format.
/// </summary>
internal static class TrafficCapture
{
    public static async Task RunAsync(string outputDirectory)
    {
        var server = FuzzServer.Shared;
        var relayPath = server.SocketPath + ".relay";
        var plan = SimulatedNode.Store(0).Current.Plan.Find(SimulatedNode.Resource)!;
        var ids = plan.Devices().Select(d => d.ToString()).ToList();
        var scenarios = new List<(string Name, Func<CallInvoker, Task> Run)>
        {
            Scenario("options", c => new Proto.DevicePlugin.V1Beta1.DevicePlugin.DevicePluginClient(c).GetDevicePluginOptionsAsync(new Empty()).ResponseAsync),
            Scenario("listandwatch", async c =>
            {
                using var cancel = new CancellationTokenSource();
                using var call = new Proto.DevicePlugin.V1Beta1.DevicePlugin.DevicePluginClient(c).ListAndWatch(new Empty(), cancellationToken: cancel.Token);
                await call.ResponseStream.MoveNext(CancellationToken.None);
                cancel.Cancel();
            }),
            Scenario("preferred", c => new Proto.DevicePlugin.V1Beta1.DevicePlugin.DevicePluginClient(c).GetPreferredAllocationAsync(new PreferredAllocationRequest
            {
                ContainerRequests =
                {
                    new ContainerPreferredAllocationRequest { AvailableDeviceIDs = { ids }, MustIncludeDeviceIDs = { ids[12] }, AllocationSize = 3 },
                    new ContainerPreferredAllocationRequest { AvailableDeviceIDs = { ids.Skip(20) }, AllocationSize = 12 },
                },
            }).ResponseAsync),
            Scenario("allocate", c => new Proto.DevicePlugin.V1Beta1.DevicePlugin.DevicePluginClient(c).AllocateAsync(new AllocateRequest
            {
                ContainerRequests =
                {
                    new ContainerAllocateRequest { DevicesIds = { ids[0], ids[1] } },
                    new ContainerAllocateRequest { DevicesIds = { ids.Skip(8).Take(4) } }, // spans GPU 0 and 1
                },
            }, deadline: DateTime.UtcNow.AddSeconds(30)).ResponseAsync), // a grpc-timeout header, as the kubelet sends
            Scenario("allocate-unknown", c => Refused(new Proto.DevicePlugin.V1Beta1.DevicePlugin.DevicePluginClient(c).AllocateAsync(new AllocateRequest
            {
                ContainerRequests = { new ContainerAllocateRequest { DevicesIds = { "GPU-0000-not-a-device" } } },
            }).ResponseAsync)),
            Scenario("prestart", c => new Proto.DevicePlugin.V1Beta1.DevicePlugin.DevicePluginClient(c).PreStartContainerAsync(new PreStartContainerRequest { DevicesIds = { ids[5] } }).ResponseAsync),
            Scenario("health", c => new Health.HealthClient(c).CheckAsync(new HealthCheckRequest()).ResponseAsync),
            Scenario("health-unknown", c => Refused(new Health.HealthClient(c).CheckAsync(new HealthCheckRequest { Service = "nope" }).ResponseAsync)),
        };
        // Every call on one connection: later HEADERS reuse HPACK's dynamic table.
        scenarios.Add(Scenario("session", async c =>
        {
            foreach (var (name, run) in scenarios.ToArray())
            {
                if (name != "session")
                    await run(c);
            }
        }));

        var relay = new RecordingRelay(relayPath, server.SocketPath);
        var writer = new SeedWriter(outputDirectory);
        foreach (var (name, run) in scenarios)
        {
            var before = relay.Connections.Count;
            using (var channel = Channel(relayPath))
                await run(channel.CreateCallInvoker());
            await relay.DrainAsync();
            foreach (var recording in relay.Connections.Skip(before))
                writer.Add(name, recording.FromClient.ToArray(), recording.FromServer.ToArray());
        }
        await relay.DisposeAsync();
        ConfigSeeds.Write(Path.Combine(outputDirectory, "config"));
        server.Log.ThrowIfAny();
        Console.WriteLine($"seeds written under {outputDirectory}");
    }

    private static (string Name, Func<CallInvoker, Task> Run) Scenario(string name, Func<CallInvoker, Task> run) => (name, run);

    private static async Task Refused(Task call)
    {
        try
        {
            await call;
        }
        catch (RpcException)
        {
        }
    }

    private static GrpcChannel Channel(string socketPath) => GrpcChannel.ForAddress("http://localhost", new GrpcChannelOptions
    {
        HttpHandler = new SocketsHttpHandler
        {
            ConnectCallback = async (_, ct) =>
            {
                var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                await socket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath), ct);
                return new NetworkStream(socket, ownsSocket: true);
            },
        },
    });
}
