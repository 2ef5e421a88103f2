using Grpc.Core;
using Grpc.Net.Client;
using MetaGpu.DevicePlugin;
using MetaGpu.Proto.DevicePlugin.V1Beta1;
using PluginClient = MetaGpu.Proto.DevicePlugin.V1Beta1.DevicePlugin.DevicePluginClient;

namespace MetaGpu.Bench;

/// <summary>One listed meta-device as the soak's kubelet keeps it.</summary>
readonly record struct SoakDevice(int Gpu, int Share, string Uuid, bool Healthy);

/// <summary>
/// The kubelet's one connection to a registered plugin (Grpc.Net.Client, one HTTP/2 connection): dialled inside
/// Register, GetDevicePluginOptions asked, then ListAndWatch kept open on it; every call of the pods goes over it.
/// </summary>
sealed class SoakPluginConnection : IDisposable
{
    private readonly GrpcChannel _channel;
    private readonly CancellationTokenSource _closed = new();
    private volatile IReadOnlyDictionary<string, SoakDevice>? _devices;

    private SoakPluginConnection(GrpcChannel channel)
    {
        _channel = channel;
        Client = new PluginClient(channel);
    }

    public PluginClient Client { get; }

    /// <summary>The last ListAndWatch message, by ID; null before the first.</summary>
    public IReadOnlyDictionary<string, SoakDevice>? Devices => _devices;

    /// <summary>Why ListAndWatch ended, once it has; null while it is open.</summary>
    public string? Ended { get; private set; }

    public bool Closed => _closed.IsCancellationRequested;

    /// <summary>Dials the plugin's socket and asks for its options, as the kubelet does inside Register (10 s).</summary>
    public static async Task<SoakPluginConnection> ConnectAsync(string socket)
    {
        var connection = new SoakPluginConnection(BenchClient.GrpcNetChannel(socket));
        try
        {
            var options = await connection.Client.GetDevicePluginOptionsAsync(new Empty(), deadline: DateTime.UtcNow.AddSeconds(10));
            if (!options.GetPreferredAllocationAvailable)
                throw new InvalidOperationException("the plugin's options do not offer GetPreferredAllocation");
            return connection;
        }
        catch
        {
            connection.Dispose();
            throw;
        }
    }

    /// <summary>Keeps ListAndWatch open until the connection is closed; each message replaces <see cref="Devices"/>.</summary>
    public void StartListAndWatch(Action onMessage)
    {
        _ = Task.Run(async () =>
        {
            try
            {
                using var call = Client.ListAndWatch(new Empty(), cancellationToken: _closed.Token);
                while (await call.ResponseStream.MoveNext(_closed.Token))
                {
                    var devices = new Dictionary<string, SoakDevice>(StringComparer.Ordinal);
                    foreach (var d in call.ResponseStream.Current.Devices)
                    {
                        if (!MetaDeviceId.TryParse(d.ID, out var id))
                            throw new InvalidOperationException($"ListAndWatch listed '{d.ID}', not a meta-device ID");
                        devices[d.ID] = new SoakDevice(id.Value.GpuIndex, id.Value.ShareIndex, id.Value.GpuUuid, d.Health == DeviceList.Healthy);
                    }
                    _devices = devices;
                    onMessage();
                }
                Ended = "the plugin ended the stream";
            }
            catch (Exception e) when (_closed.IsCancellationRequested && e is OperationCanceledException or RpcException)
            {
                Ended = "closed by the kubelet";
            }
            catch (Exception e)
            {
                Ended = $"{e.GetType().Name}: {e.Message}";
            }
        });
    }

    public void Dispose()
    {
        _closed.Cancel();
        _channel.Dispose();
    }
}
