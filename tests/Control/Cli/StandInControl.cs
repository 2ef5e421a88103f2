using System.Collections.Concurrent;
using System.Threading.Channels;
using Grpc.Core;
using MetaGpu.Control.V1;
using ControlApi = MetaGpu.Control.V1.Control;

namespace MetaGpu.Tests.Control.Cli;

/// <summary>
/// A control service that answers what the test sets (the server's scope rules are not mgctl's to apply): canned
/// answers, a watch that sends the current containers at once and then each pushed update, and errors on demand.
/// </summary>
public sealed class StandInControl : ControlApi.ControlBase
{
    private readonly Channel<ListContainersResponse> _updates = Channel.CreateUnbounded<ListContainersResponse>();
    private int _watchers;

    public InfoResponse InfoReply { get; set; } = new();
    public ListDevicesResponse Devices { get; set; } = new();
    public ListContainersResponse Containers { get; set; } = new();
    public KillProcessResponse? KillAnswer { get; set; }

    /// <summary>Every call fails with this status (and <see cref="FailDetail"/>) while set.</summary>
    public StatusCode? Fail { get; set; }
    public string FailDetail { get; set; } = "";

    /// <summary>Unary calls wait until the client gives up (for timeouts).</summary>
    public bool Hang { get; set; }

    public ConcurrentQueue<KillProcessRequest> Kills { get; } = new();
    public ConcurrentQueue<string> Calls { get; } = new();

    /// <summary>How many watches are streaming now.</summary>
    public int Watchers => Volatile.Read(ref _watchers);

    /// <summary>The next watch message: it becomes <see cref="Containers"/> and goes to the watch streaming now.</summary>
    public void Push(ListContainersResponse update) => _updates.Writer.TryWrite(update);

    private async Task<T> Answer<T>(string method, Func<T> answer, ServerCallContext context)
    {
        Calls.Enqueue(method);
        if (Fail is { } code)
            throw new RpcException(new Status(code, FailDetail));
        if (Hang)
            await Task.Delay(Timeout.Infinite, context.CancellationToken);
        return answer();
    }

    public override Task<InfoResponse> Info(InfoRequest request, ServerCallContext context) => Answer("Info", () => InfoReply, context);

    public override Task<ListDevicesResponse> ListDevices(ListDevicesRequest request, ServerCallContext context) => Answer("ListDevices", () => Devices, context);

    public override Task<ListContainersResponse> ListContainers(ListContainersRequest request, ServerCallContext context) =>
        Answer("ListContainers", () => Containers, context);

    public override Task<PingResponse> Ping(PingRequest request, ServerCallContext context) =>
        Answer("Ping", () => new PingResponse { Version = InfoReply.Version, ServerUnixMs = 1_700_000_000_000 }, context);

    public override Task<KillProcessResponse> KillProcess(KillProcessRequest request, ServerCallContext context) => Answer("KillProcess", () =>
    {
        Kills.Enqueue(request);
        return KillAnswer ?? new KillProcessResponse { Pid = request.Pid, Signal = request.Signal == 0 ? 15 : request.Signal, Command = "python train.py" };
    }, context);

    public override async Task WatchContainers(ListContainersRequest request, IServerStreamWriter<ListContainersResponse> responseStream, ServerCallContext context)
    {
        Calls.Enqueue("WatchContainers");
        if (Fail is { } code)
            throw new RpcException(new Status(code, FailDetail));
        Interlocked.Increment(ref _watchers);
        try
        {
            await responseStream.WriteAsync(Containers);
            while (await _updates.Reader.WaitToReadAsync(context.CancellationToken))
            {
                while (_updates.Reader.TryRead(out var update))
                {
                    Containers = update;
                    await responseStream.WriteAsync(update);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
        finally
        {
            Interlocked.Decrement(ref _watchers);
        }
    }
}
