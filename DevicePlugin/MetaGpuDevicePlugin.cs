using Google.Protobuf;
using System.Globalization;
using System.Runtime.CompilerServices;
using Grpc.Core;
using MetaGpu.DevicePlugin.Allocations;
using MetaGpu.DevicePlugin.Config;
using MetaGpu.Logging;
using MetaGpu.Primitives;
using MetaGpu.Proto.DevicePlugin.V1Beta1;
using MetaGpu.Rpc.Grpc;
using Microsoft.Extensions.Logging;

namespace MetaGpu.DevicePlugin;

/// <summary>
/// The kubelet's DevicePlugin service for one resource. Every answer is computed from the current
/// <see cref="NodeState"/>; nothing here keeps state of its own (apart from knowing which ListAndWatch stream is the
/// kubelet's), so a restarted daemon answers the same way. Allocate also writes each container's allocation file
/// (named by its IDs, so the same again) before it answers, and mounts it into the container.
/// </summary>
public sealed class MetaGpuDevicePlugin(string resourceName, NodeStateStore state, AllocationFiles allocations, ILogger? log, CancellationToken stopping,
    ContainerAdditions? additions = null, LineBudget? lines = null)
    : Proto.DevicePlugin.V1Beta1.DevicePlugin.DevicePluginBase
{
    /// <summary>
    /// The most containers one Allocate or GetPreferredAllocation may ask for. The kubelet sends exactly one per call;
    /// the cap keeps a hostile request (50,000 containers took 227 MB and wrote 50,000 log lines) from costing more
    /// than a bounded answer. Beyond it the call fails with INVALID_ARGUMENT before any work.
    /// </summary>
    public const int MaxContainersPerRequest = 64;

    public string ResourceName { get; } = resourceName;

    /// <summary>How many of Allocate's per-call lines (its info line, its spanning warning, its failures) are written; see <see cref="LineBudget"/>.</summary>
    public LineBudget Lines { get; } = lines ?? new LineBudget();

    /// <summary>Ties the registration's ListAndWatch stream to our Register call (see <see cref="RegistrationStream"/>).</summary>
    public RegistrationStream Registration { get; } = new();

    /// <summary>Raised when the registration's ListAndWatch stream ends for a reason other than our own stop: the kubelet went away.</summary>
    public event Action<string>? StreamLost;

    /// <summary>How many ListAndWatch streams are open (the kubelet keeps one; other clients may open more).</summary>
    public int OpenStreams => Volatile.Read(ref _openStreams);

    private int _openStreams;

    /// <summary>
    /// The largest GetPreferredAllocation request answered on the read loop: 64 KiB is about 1,150 available IDs of
    /// 55 bytes, more than 8 GPUs of 100 shares (800 IDs, 46 KB). Such a call cost 0.15-0.2 ms of CPU in all when
    /// answered inline, against 0.34 ms when handed to a pool thread (thirteenth session, BENCHMARKS.md); a larger
    /// request, a larger node's or a hostile peer's, waits for no one else's call on the pool.
    /// </summary>
    public const int InlinePreferredRequestBytes = 64 * 1024;

    /// <summary>Where a GetPreferredAllocation of several containers is weighed: the thread pool (tests hold it back).</summary>
    internal TaskScheduler WeighingScheduler { get; init; } = TaskScheduler.Default;

    /// <summary>
    /// Serves this on <paramref name="server"/>. GetDevicePluginOptions and PreStartContainer answer a constant, so
    /// they run inline on the connection's read loop. So does Allocate as far as it can without waiting: it answers
    /// there when every file it hands out is already right, and goes on on the thread pool when one has to be
    /// written (<see cref="AllocateNow"/>). GetPreferredAllocation's work grows with its request, so it runs inline
    /// only up to <see cref="InlinePreferredRequestBytes"/>, and on the pool past it.
    /// </summary>
    public GrpcServer AddTo(GrpcServer server) => server
        .AddUnary(KubeletApi.GetDevicePluginOptions, GetDevicePluginOptions, inline: true)
        .AddServerStreaming(KubeletApi.ListAndWatch, ListAndWatch)
        .AddUnary(PreferredAllocationWire.Method, GetPreferredAllocation, inline: true, inlineMaxRequestBytes: InlinePreferredRequestBytes)
        .AddUnary(AllocateAnswer.Method, AllocateServed, inline: true)
        .AddUnary(KubeletApi.PreStartContainer, PreStartContainer, inline: true);

    public override Task<DevicePluginOptions> GetDevicePluginOptions(Empty request, ServerCallContext context)
    {
        Registration.OptionsAsked(context.Peer);
        return Options;
    }

    /// <summary>The one answer GetDevicePluginOptions has, made once: the server only serializes it, and no caller may change it.</summary>
    private static readonly Task<DevicePluginOptions> Options =
        Task.FromResult(new DevicePluginOptions { GetPreferredAllocationAvailable = true, PreStartRequired = false });

    public override async Task ListAndWatch(Empty request, IServerStreamWriter<ListAndWatchResponse> responseStream, ServerCallContext context)
    {
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(context.CancellationToken, stopping);
        var token = linked.Token;
        Interlocked.Increment(ref _openStreams);
        var kubelets = Registration.Claim(context.Peer, linked);
        // Only the kubelet's stream is worth an info line per change; other clients' streams could flood the log.
        var level = kubelets ? LogLevel.Information : LogLevel.Debug;
        if (!kubelets)
            log?.LogDebug("ListAndWatch {Resource}: a stream from {Peer}, not the registration's: its end does not count", ResourceName, context.Peer);
        ListAndWatchResponse? sent = null;
        try
        {
            var current = state.Current;
            while (!token.IsCancellationRequested)
            {
                var plan = current.Plan.Find(ResourceName);
                if (plan is not null)
                {
                    var snapshot = DeviceList.Build(plan, current.Health.IsHealthy);
                    // Every message is a full snapshot; send one only when something the kubelet sees changed.
                    if (!snapshot.Equals(sent))
                    {
                        await responseStream.WriteAsync(snapshot, token).ConfigureAwait(false);
                        sent = snapshot;
                        var unhealthy = 0;
                        foreach (var d in snapshot.Devices)
                        {
                            if (d.Health != DeviceList.Healthy)
                                unhealthy++;
                        }
                        log?.Log(level, "ListAndWatch {Resource}: {Devices} devices, {Unhealthy} unhealthy", ResourceName, snapshot.Devices.Count, unhealthy);
                    }
                }
                current = await state.WaitForChangeAsync(current.Version, token).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
        }
        finally
        {
            Interlocked.Decrement(ref _openStreams);
            if (kubelets && !stopping.IsCancellationRequested)
                StreamLost?.Invoke(ResourceName);
        }
    }

    /// <summary>
    /// The generated service's entry, for callers holding a generated request (the server binds
    /// <see cref="GetPreferredAllocation(KubeletQuery, ServerCallContext)"/>): the request goes through the same
    /// bytes the kubelet's would.
    /// </summary>
    public override Task<PreferredAllocationResponse> GetPreferredAllocation(PreferredAllocationRequest request, ServerCallContext context)
    {
        using var query = KubeletQuery.ParsePreferred(request.ToByteArray());
        return Task.FromResult(Prefer(query).ToResponse());
    }

    /// <summary>
    /// GetPreferredAllocation as served: the request's IDs looked up as the bytes sent (<see cref="PreferredAllocationWire"/>).
    /// The kubelet asks for one container, answered at once (on the read loop, up to
    /// <see cref="InlinePreferredRequestBytes"/>). A request of several is weighed on the thread pool: each container
    /// costs its own pass over the plan (about 8 µs for an empty one, measured under the JIT), so 64 small
    /// containers in a few hundred bytes would otherwise hold the read loop for half a millisecond.
    /// </summary>
    internal Task<PreferredAnswer> GetPreferredAllocation(KubeletQuery request, ServerCallContext context)
    {
        if (request.ContainerCount > 1)
        {
            return Task.Factory.StartNew(() =>
            {
                using (request)
                    return Prefer(request);
            }, CancellationToken.None, TaskCreationOptions.DenyChildAttach, WeighingScheduler);
        }
        using (request)
            return Task.FromResult(Prefer(request));
    }

    private PreferredAnswer Prefer(KubeletQuery request)
    {
        CheckContainerCount(request.ContainerCount, "GetPreferredAllocation");
        var current = state.Current;
        var plan = PlanOrThrow(current);
        var index = PlanIndex.Of(plan);
        var answer = new PreferredAnswer(index);
        for (var c = 0; c < request.ContainerCount; c++)
        {
            using var available = new Located(this, index, request.AvailableCount(c));
            for (var i = 0; i < request.AvailableCount(c); i++)
                available.Add(request.Available(c, i));
            using var must = new Located(this, index, request.MustIncludeCount(c));
            for (var i = 0; i < request.MustIncludeCount(c); i++)
                must.Add(request.MustInclude(c, i));
            answer.Add(AllocationPolicy.Preferred(index, available.Found, must.Found, request.AllocationSize(c), current.Config.Policy));
        }
        return answer;
    }

    /// <summary>The generated service's entry (the server binds <see cref="AllocateServed"/>, which answers the same bytes).</summary>
    public override async Task<AllocateResponse> Allocate(AllocateRequest request, ServerCallContext context) =>
        (await AllocateServed(KubeletQuery.ParseAllocate(request.ToByteArray()), context).ConfigureAwait(false)).ToResponse();

    /// <summary>
    /// Allocate as served: the request read as bytes (<see cref="KubeletQuery.ParseAllocate(System.Buffers.ReadOnlySequence{byte})"/>),
    /// each container's answer serialized once per allocation record (<see cref="AllocateAnswer"/>). Takes the query
    /// over: it is disposed once its IDs have been read.
    /// </summary>
    internal Task<AllocateAnswer> AllocateServed(KubeletQuery request, ServerCallContext context)
    {
        if (additions?.Pending is { IsCompleted: false } pending)
            return AllocateWhenPublishedAsync(pending, request, context);
        using (request)
            return AllocateNow(request); // reads the IDs before it returns; what may run later only writes files
    }

    /// <summary>An Allocate during mgctl's installation: answered once it is installed (or <see cref="ContainerAdditions.MaxWait"/> has passed).</summary>
    private async Task<AllocateAnswer> AllocateWhenPublishedAsync(Task pending, KubeletQuery request, ServerCallContext context)
    {
        using (request)
        {
            using var waited = CancellationTokenSource.CreateLinkedTokenSource(context.CancellationToken, stopping);
            await Deferral.UntilAsync(pending, ContainerAdditions.MaxWait, waited.Token).ConfigureAwait(false);
            context.CancellationToken.ThrowIfCancellationRequested();
            return await AllocateNow(request).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Every request is checked before any file is written, and every file is written before the answer: a container
    /// never starts with a mount of a file that is not there. Runs on the connection's read loop (the method is bound
    /// inline): when every file is already right (<see cref="AllocationFiles.IsCurrent(AllocationRecord)"/>, a
    /// <c>statx</c> or a read) it answers at once; when one must be written, the rest runs on the thread pool, so no
    /// wait for the disk holds up the connection's other calls.
    /// </summary>
    private Task<AllocateAnswer> AllocateNow(KubeletQuery request)
    {
        CheckContainerCount(request.ContainerCount, "Allocate");
        var current = state.Current;
        var plan = PlanOrThrow(current);
        var response = new AllocateAnswer();
        var spans = new List<string>();
        var summaries = new List<ContainerAnswer>();
        for (var c = 0; c < request.ContainerCount; c++)
        {
            var answer = AllocateContainer(plan, current, new AllocateIds(request, c), spans);
            response.Add(answer.Bytes);
            summaries.Add(answer);
        }

        List<AllocationRecord>? unwritten = null;
        foreach (var answer in summaries)
        {
            if (!allocations.IsCurrent(answer.Record))
                (unwritten ??= []).Add(answer.Record);
        }
        if (unwritten is not null)
            return WriteThenAnswerAsync(unwritten, response, spans, summaries);
        LogAllocated(spans, summaries);
        return Task.FromResult(response);
    }

    private async Task<AllocateAnswer> WriteThenAnswerAsync(List<AllocationRecord> unwritten, AllocateAnswer response, List<string> spans, List<ContainerAnswer> summaries)
    {
        await Task.Yield(); // off the read loop: a write waits for the disk (fsync)
        try
        {
            foreach (var record in unwritten)
                allocations.Write(record);
        }
        catch (AllocationFileException e)
        {
            // INTERNAL, not UNAVAILABLE: the plugin is there and answered; what failed is this node's disk, and the
            // kubelet fails the pod's admission either way (it does not retry Allocate on any code).
            if (MayLog(out var logger))
                logger.LogError("Allocate {Resource} failed: {Error}", ResourceName, e.Message);
            throw new RpcException(new Status(StatusCode.Internal, e.Message));
        }
        LogAllocated(spans, summaries);
        return response;
    }

    /// <summary>At most one warning and one info line per request, whatever it holds, and no more requests' lines than the budget.</summary>
    private void LogAllocated(List<string> spans, List<ContainerAnswer> summaries)
    {
        if (!MayLog(out var lines))
            return;
        if (spans.Count > 0)
            lines.LogWarning("allocation spans GPUs: {Message}{More}", spans[0], spans.Count > 1 ? $" (and {spans.Count - 1} more containers)" : "");
        var first = summaries[0];
        if (summaries.Count == 1)
            lines.LogInformation("Allocate {Resource}: {Count} meta-devices on {Gpus} ({Shares}), memory limit {MaxMemMiB} MiB, allocation {Key}",
                ResourceName, first.Record.Request, first.Gpus, first.Shares, first.Record.MemoryLimitMiB, first.Record.Key);
        else
            lines.LogInformation("Allocate {Resource}: {Containers} containers, {Total} meta-devices in all; the first: {Count} on {Gpus} ({Shares}), memory limit {MaxMemMiB} MiB, allocation {Key}",
                ResourceName, summaries.Count, TotalCount(summaries), first.Record.Request, first.Gpus, first.Shares, first.Record.MemoryLimitMiB, first.Record.Key);
    }

    /// <summary>
    /// Whether this call may write its lines (<see cref="Lines"/>); when calls went unlogged before it, says so first.
    /// </summary>
    private bool MayLog([System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out ILogger? logger)
    {
        logger = log;
        if (logger is null || !Lines.TryTake(out var suppressed, out var over))
            return false;
        if (suppressed > 0)
            logger.LogInformation("Allocate {Resource}: {Unlogged} calls in the last {Seconds:0.0} s were answered without a log line (at most {PerSecond} lines a second, {Burst} at once); metagpu_plugin_rpc_duration_seconds_count counts every call",
                ResourceName, suppressed, over.TotalSeconds, Lines.PerSecond, Lines.Burst);
        return true;
    }

    private static int TotalCount(List<ContainerAnswer> summaries)
    {
        var total = 0;
        foreach (var c in summaries)
            total += c.Record.Request;
        return total;
    }

    /// <summary>One text per GPU of the shape, comma-separated.</summary>
    private static string JoinGpus(AllocationShape shape, Func<GpuShare, string> text)
    {
        var parts = new string[shape.PerGpu.Count];
        for (var i = 0; i < parts.Length; i++)
            parts[i] = text(shape.PerGpu[i]);
        return string.Join(",", parts);
    }

    public override Task<PreStartContainerResponse> PreStartContainer(PreStartContainerRequest request, ServerCallContext context) =>
        Task.FromResult(new PreStartContainerResponse());

    private void CheckContainerCount(int count, string call)
    {
        if (count == 0)
            throw new RpcException(new Status(StatusCode.InvalidArgument, $"{ResourceName}: {call} without container requests"));
        if (count > MaxContainersPerRequest)
            throw new RpcException(new Status(StatusCode.InvalidArgument,
                $"{ResourceName}: {call} asks for {count} containers; at most {MaxContainersPerRequest} are accepted in one request (the kubelet sends one)"));
    }

    /// <summary>
    /// Where the plan's IDs among a list lie, each looked up once (<see cref="Add"/> in the list's order); fails the
    /// call when an ID is listed twice. The plan's own IDs are marked by their positions (a bit each, no set of strings
    /// for the 800 IDs the kubelet lists); only IDs the plan does not have are made strings, in a set, and are left
    /// out of the answer. The (order, share) pairs found are in an array from <see cref="CappedPool{T}"/> (6.4 KB
    /// for the kubelet's 800 IDs, garbage of every call before), given back on Dispose.
    /// </summary>
    private sealed class Located(MetaGpuDevicePlugin plugin, PlanIndex index, int count) : IDisposable
    {
        private readonly ulong[] _marked = new ulong[index.PositionWords];
        private HashSet<string>? _others;
        private (int Order, int Share)[] _found = CappedPool<(int Order, int Share)>.Rent(count);
        private int _count;

        public ReadOnlySpan<(int Order, int Share)> Found => _found.AsSpan(0, _count);

        public void Add(ReadOnlySpan<byte> id)
        {
            if (index.TryFind(id, out var order, out var share))
            {
                if (!index.Mark(_marked, order, share))
                    throw plugin.Repeated(index.IdAt(index.PositionOf(order, share)));
                _found[_count++] = (order, share);
                return;
            }
            var other = System.Text.Encoding.UTF8.GetString(id);
            if (!(_others ??= new HashSet<string>(StringComparer.Ordinal)).Add(other))
                throw plugin.Repeated(other);
        }

        public void Dispose()
        {
            var found = _found;
            _found = [];
            _count = 0;
            CappedPool<(int Order, int Share)>.Return(found);
        }
    }

    private RpcException Repeated(string id) =>
        new(new Status(StatusCode.InvalidArgument, new DuplicateDeviceException(Shorten(id), ResourceName).Message));

    /// <summary>An ID from a request as it may appear in an error: never more than a short prefix of what a peer sent.</summary>
    private static string Shorten(string id) => id.Length <= MetaDeviceId.MaxLength ? id : id[..MetaDeviceId.MaxLength] + "…";

    private ResourcePlan PlanOrThrow(NodeState current) =>
        current.Plan.Find(ResourceName)
        ?? throw new RpcException(new Status(StatusCode.FailedPrecondition, $"resource {ResourceName} is no longer configured on this node"));

    /// <summary>
    /// What one container gets: the physical GPUs behind its meta-devices, its share of each, its memory limit.
    /// A spanning warning goes to <paramref name="spans"/>, so the caller logs a bounded number of lines per request;
    /// the answer carries the allocation file's record for the caller to write once every container of the request
    /// has been checked. The answer itself is made once per record (<see cref="AnswerOf"/>).
    /// </summary>
    private ContainerAnswer AllocateContainer(ResourcePlan plan, NodeState current, AllocateIds ids, List<string> spans)
    {
        var config = current.Config;
        if (ids.Count == 0)
            throw new RpcException(new Status(StatusCode.InvalidArgument, $"{ResourceName}: Allocate without device IDs"));
        AllocationShape shape;
        int[] positions;
        var index = PlanIndex.Of(plan);
        try
        {
            shape = AllocationPolicy.Describe(index, plan.ResourceName, ids, out positions);
        }
        catch (UnknownDeviceException e)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, $"{ResourceName}: '{Shorten(e.DeviceId)}' is not a device of {ResourceName}"));
        }
        catch (DuplicateDeviceException e)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, new DuplicateDeviceException(Shorten(e.DeviceId), ResourceName).Message));
        }

        // The kubelet offers only devices it saw healthy, but health may have changed since, and a peer may ask anyway:
        // a container must not start on a GPU that is known to be failing.
        foreach (var s in shape.PerGpu)
        {
            if (!current.Health.IsHealthy(s.Gpu.Uuid))
            {
                var why = current.Health.Gpus.TryGetValue(s.Gpu.Uuid, out var h) && h.Reason is not null ? h.Reason : "no health record";
                throw new RpcException(new Status(StatusCode.FailedPrecondition,
                    $"{ResourceName}: GPU {s.Gpu.Uuid} is unhealthy ({why}); its meta-devices cannot be allocated until it recovers"));
            }
        }

        var record = index.RecordOf(ResourceName, positions, shape);
        var answer = AnswerOf(record, shape, config.DeviceListStrategy);
        if (shape.SpansMoreGpusThanNeeded)
        {
            var message = $"{ResourceName}: {ids.Count} meta-devices would fit on {shape.MinimumGpus} GPU(s) but were given on {shape.PerGpu.Count} ({answer.Gpus})";
            if (config.Spanning == SpanningMode.Reject)
            {
                if (MayLog(out var lines))
                    lines.LogWarning("refusing allocation: {Message}", message);
                throw new RpcException(new Status(StatusCode.FailedPrecondition, message + "; spanning is set to reject"));
            }
            spans.Add(message);
        }
        return answer;
    }

    /// <summary>
    /// Answers kept by record: a record is a pure function of the plan and the set of meta-devices, and
    /// <see cref="PlanIndex.RecordOf"/> keeps it while it recurs, so an answer lives as long as its record. An entry
    /// stands only for the strategy and mgctl's mounts it was made with.
    /// </summary>
    private readonly ConditionalWeakTable<AllocationRecord, ContainerAnswer> _answers = new();

    /// <summary>One container's answer, serialized, with its record and what else the log says of it.</summary>
    private sealed record ContainerAnswer(byte[] Bytes, AllocationRecord Record, string Gpus, string Shares, DeviceListStrategy Strategy,
        ContainerAdditions.Snapshot? Additions);

    private ContainerAnswer AnswerOf(AllocationRecord record, AllocationShape shape, DeviceListStrategy strategy)
    {
        var extra = additions?.Current;
        if (_answers.TryGetValue(record, out var known) && known.Strategy == strategy && ReferenceEquals(known.Additions, extra))
            return known;

        var gpus = JoinGpus(shape, static s => s.Gpu.Uuid);
        var response = new ContainerAllocateResponse();
        // Memory in proportion to the share of each GPU (MiB, rounded down once per GPU, not per share).
        var maxMemoryMiB = record.MemoryLimitMiB;
        var shares = JoinGpus(shape, static s => string.Create(CultureInfo.InvariantCulture, $"{s.Gpu.Uuid}={s.Count}/{s.Gpu.MetaGpus}"));
        switch (strategy)
        {
            case DeviceListStrategy.EnvVar:
                response.Envs["NVIDIA_VISIBLE_DEVICES"] = gpus;
                break;
            case DeviceListStrategy.CdiCri:
                foreach (var s in shape.PerGpu)
                    response.CdiDevices.Add(new CDIDevice { Name = CdiName(s.Gpu.Uuid) });
                break;
            case DeviceListStrategy.CdiAnnotations:
                response.Annotations[CdiAnnotationKey] = JoinGpus(shape, static s => CdiName(s.Gpu.Uuid));
                break;
        }
        response.Envs["METAGPU_RESOURCE"] = ResourceName;
        response.Envs["METAGPU_DEVICE_UUIDS"] = gpus;
        response.Envs["METAGPU_DEVICE_IDS"] = string.Join(",", record.DeviceIds); // sorted (ordinal) by the record
        response.Envs["METAGPU_SHARES"] = shares;
        response.Envs["METAGPU_REQUEST"] = record.Request.ToString(CultureInfo.InvariantCulture);
        response.Envs["METAGPU_MAX_MEM"] = maxMemoryMiB.ToString(CultureInfo.InvariantCulture);
        response.Envs["METAGPU_ALLOCATION"] = AllocationContainerPaths.Documented;
        var hostPath = allocations.PathOf(record.Key);
        response.Mounts.Add(new Mount { ContainerPath = AllocationContainerPaths.Documented, HostPath = hostPath, ReadOnly = true });
        response.Mounts.Add(new Mount { ContainerPath = AllocationContainerPaths.ForResource(ResourceName), HostPath = hostPath, ReadOnly = true });
        if (extra is not null)
        {
            foreach (var m in extra.Mounts)
                response.Mounts.Add(new Mount { ContainerPath = m.ContainerPath, HostPath = m.HostPath, ReadOnly = true });
            foreach (var (name, value) in extra.Environment)
                response.Envs[name] = value;
        }
        var answer = new ContainerAnswer(response.ToByteArray(), record, gpus, shares, strategy, extra);
        _answers.AddOrUpdate(record, answer);
        return answer;
    }

    /// <summary>The CDI name of a whole NVIDIA GPU, as the NVIDIA container toolkit generates its spec.</summary>
    public static string CdiName(string uuid) => "nvidia.com/gpu=" + uuid;

    /// <summary>
    /// The CDI annotation prefix is fixed; the suffix names who asks (unique per plugin). The key's name part may have
    /// 63 characters, so a long resource name is shortened (with a hash, still unique).
    /// </summary>
    private string CdiAnnotationKey => "cdi.k8s.io/" + SocketNames.Shorten("metagpu_" + ResourceName, 63);
}
