using MetaGpu.Rpc.Grpc;
using MetaGpu.Rpc.Http2;
using ControlApi = MetaGpu.Control.V1.Control;

namespace MetaGpu.Tests.Control.Cli;

/// <summary>
/// <see cref="StandInControl"/> served by our own gRPC server on a fresh Unix socket, as the daemon serves it; it can
/// stop and start again on the same path, as a restarted daemon does.
/// </summary>
public sealed class StandInDaemon : IAsyncDisposable
{
    private readonly string _directory;
    private GrpcServer? _server;

    public StandInDaemon(StandInControl? control = null)
    {
        _directory = Directory.CreateTempSubdirectory("mg-ctl-").FullName;
        SocketPath = Path.Combine(_directory, "control.sock");
        Control = control ?? new StandInControl();
        Start();
    }

    public StandInControl Control { get; }
    public string SocketPath { get; }
    public string DirectoryPath => _directory;

    public void Start()
    {
        // A budget of its own: daemons of tests side by side must not share one.
        _server = new GrpcServer(new GrpcServerOptions { MemoryBudget = new MemoryBudget(MemoryBudget.DefaultLimit) })
            .AddService(ControlApi.BindService(Control));
        _server.ListenUnix(SocketPath);
    }

    /// <summary>Stops at once: connections cut, streams ended, the socket file removed.</summary>
    public async Task StopAsync()
    {
        if (_server is { } s)
            await s.ShutdownAsync(TimeSpan.Zero);
        _server = null;
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
