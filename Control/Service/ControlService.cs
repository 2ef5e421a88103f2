using Google.Protobuf;
using Grpc.Core;
using MetaGpu.Control.Identity;
using MetaGpu.Control.V1;
using MetaGpu.Primitives;
using MetaGpu.Rpc.Grpc;
using MetaGpu.Usage.Enforcement;
using MetaGpu.Usage.Workload;
using Microsoft.Extensions.Logging;

namespace MetaGpu.Control.Service;

/// <summary>How <see cref="ControlService"/> signals a process: only the very one that started at the given time.</summary>
public delegate KillOutcome ProcessSignal(int pid, ulong startTicks, int signal, out string detail);

/// <summary>
/// The control API (Proto/control.proto) that mgctl calls. Every call first asks the kernel who calls
/// (<see cref="CallerResolver"/>) and answers only within that caller's scope (<see cref="ScopedAnswers"/>); a
/// caller that is not allowed, or whose process is gone by the time the answer is ready, gets PERMISSION_DENIED
/// and nothing about anyone.
/// </summary>
public sealed class ControlService : V1.Control.ControlBase
{
    /// <summary>Watches open at once, over every connection; more are refused with RESOURCE_EXHAUSTED.</summary>
    public const int MaxWatches = 128;

    /// <summary>How often a watch without news checks that its caller still runs.</summary>
    public static readonly TimeSpan WatchLivenessInterval = TimeSpan.FromSeconds(2);

    private static readonly int[] Signals = [15, 9, 2];

    private readonly VersionedSnapshot<WorkloadView> _view;
    private readonly CallerResolver _resolver;
    private readonly ScopedAnswers _answers;
    private readonly ProcessSignal _signal;
    private readonly string _node;
    private readonly string _version;
    private readonly ILogger _log;
    private int _watches;

    public ControlService(VersionedSnapshot<WorkloadView> view, CallerResolver resolver, ScopedAnswers answers, ProcessSignal signal,
        string node, string version, ILogger log)
    {
        _view = view;
        _resolver = resolver;
        _answers = answers;
        _signal = signal;
        _node = node;
        _version = version;
        _log = log;
    }

    /// <summary>Serves this on <paramref name="server"/>. Every call reads the caller's /proc, so none runs inline.</summary>
    public GrpcServer AddTo(GrpcServer server) => server
        .AddUnary(ControlMethods.Info, Info)
        .AddUnary(ControlMethods.ListDevices, ListDevices)
        .AddUnary(ControlMethods.ListContainers, ListContainers)
        .AddServerStreaming(ControlMethods.WatchContainers, WatchContainers)
        .AddUnary(ControlMethods.KillProcess, KillProcess)
        .AddUnary(ControlMethods.Ping, Ping);

    public override Task<InfoResponse> Info(InfoRequest request, ServerCallContext context)
    {
        var caller = Identify(context);
        var view = _view.Current;
        var answer = new InfoResponse
        {
            Node = _node, Version = _version, Scope = _answers.ScopeOf(caller, view),
            PodResourcesAvailable = view.PodResourcesAvailable, RefreshedUnixMs = ScopedAnswers.UnixMs(view.Taken),
        };
        return Task.FromResult(Checked(caller, answer));
    }

    public override Task<ListDevicesResponse> ListDevices(ListDevicesRequest request, ServerCallContext context)
    {
        var caller = Identify(context);
        return Task.FromResult(Checked(caller, _answers.Devices(caller, _view.Current)));
    }

    public override Task<ListContainersResponse> ListContainers(ListContainersRequest request, ServerCallContext context)
    {
        var caller = Identify(context);
        return Task.FromResult(Checked(caller, _answers.Containers(caller, _view.Current)));
    }

    public override async Task WatchContainers(ListContainersRequest request, IServerStreamWriter<ListContainersResponse> responseStream, ServerCallContext context)
    {
        var caller = Identify(context);
        if (Interlocked.Increment(ref _watches) > MaxWatches)
        {
            Interlocked.Decrement(ref _watches);
            throw new RpcException(new Status(StatusCode.ResourceExhausted, $"{MaxWatches} watches are open on this node already; try again later"));
        }
        try
        {
            var cancel = context.CancellationToken;
            byte[]? sent = null;
            var version = long.MinValue;
            while (true)
            {
                var view = _view.Current;
                if (view.Version != version)
                {
                    version = view.Version;
                    var answer = _answers.Containers(caller, view);
                    // A new refresh with nothing new for this caller is no news: compare without the refresh time.
                    var refreshed = answer.RefreshedUnixMs;
                    answer.RefreshedUnixMs = 0;
                    var bytes = answer.ToByteArray();
                    answer.RefreshedUnixMs = refreshed;
                    if (sent is null || !bytes.AsSpan().SequenceEqual(sent))
                    {
                        await responseStream.WriteAsync(Checked(caller, answer)).ConfigureAwait(false);
                        sent = bytes;
                    }
                }
                try
                {
                    await _view.WhenChanged(version).WaitAsync(WatchLivenessInterval, cancel).ConfigureAwait(false);
                }
                catch (TimeoutException)
                {
                }
                cancel.ThrowIfCancellationRequested();
                if (!_resolver.StillThere(caller))
                    throw Gone(caller);
            }
        }
        finally
        {
            Interlocked.Decrement(ref _watches);
        }
    }

    public override Task<KillProcessResponse> KillProcess(KillProcessRequest request, ServerCallContext context)
    {
        var caller = Identify(context);
        var signal = request.Signal == 0 ? 15 : request.Signal;
        if (Array.IndexOf(Signals, signal) < 0)
            throw new RpcException(new Status(StatusCode.InvalidArgument, $"signal {request.Signal} is not one mgctl sends: use 15 (TERM), 9 (KILL) or 2 (INT)"));
        if (request.Pid <= 0)
            throw new RpcException(new Status(StatusCode.InvalidArgument, $"pid {request.Pid} is not a process id"));
        var target = _answers.FindKillable(caller, _view.Current, request.Pid);
        if (target is null)
        {
            throw caller.Scope == CallerScope.Node
                ? new RpcException(new Status(StatusCode.NotFound, $"pid {request.Pid} is not a GPU process on this node ('mgctl get processes' lists them)"))
                : new RpcException(new Status(StatusCode.PermissionDenied, $"pid {request.Pid} is not a GPU process of this container's allocation ('mgctl get processes' lists those you may kill)"));
        }
        // Nothing is done for a caller that is gone: its pid may be someone else's by now.
        if (!_resolver.StillThere(caller))
            throw Gone(caller);
        var outcome = _signal(target.Pid, target.StartTicks, signal, out var detail);
        var name = PidfdSignaller.SignalName(signal);
        switch (outcome)
        {
            case KillOutcome.Killed:
                _log.LogInformation("mgctl kill: {Signal} to pid {Pid} ({Command}) on GPU {Gpu}, asked by pid {Caller} ({Scope} scope): {Detail}",
                    name, target.Pid, target.CommandLine, target.GpuIndex, caller.HostPid, caller.Scope, detail);
                return Task.FromResult(new KillProcessResponse { Pid = request.Pid, Signal = signal, Command = target.CommandLine });
            case KillOutcome.Gone or KillOutcome.Reused:
                throw new RpcException(new Status(StatusCode.NotFound, $"pid {request.Pid} has exited; nothing was signalled"));
            case KillOutcome.Refused:
                throw new RpcException(new Status(StatusCode.PermissionDenied, $"the kernel refused to signal pid {request.Pid} ({detail}): the MetaGPU daemon needs CAP_KILL"));
            default:
                throw new RpcException(new Status(StatusCode.Internal, $"signalling pid {request.Pid} failed: {detail}"));
        }
    }

    public override Task<PingResponse> Ping(PingRequest request, ServerCallContext context)
    {
        var caller = Identify(context);
        return Task.FromResult(Checked(caller, new PingResponse { Version = _version, ServerUnixMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() }));
    }

    private Caller Identify(ServerCallContext context)
    {
        try
        {
            return _resolver.Resolve(GrpcServer.UnixPeerOf(context));
        }
        catch (CallerDeniedException e)
        {
            _log.LogDebug("control call {Method} denied: {Reason}", context.Method, e.Message);
            throw new RpcException(new Status(StatusCode.PermissionDenied, e.Message));
        }
    }

    /// <summary>The answer, if its caller still runs; a caller that exited or was replaced mid-call gets none.</summary>
    private T Checked<T>(Caller caller, T answer) => _resolver.StillThere(caller) ? answer : throw Gone(caller);

    private static RpcException Gone(Caller caller) =>
        new(new Status(StatusCode.PermissionDenied, $"the calling process (pid {caller.HostPid}) exited during the call; nothing is answered to its successor"));
}
