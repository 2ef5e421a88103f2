using System.Globalization;
using Grpc.Core;
using MetaGpu.DevicePlugin.Config;
using MetaGpu.Proto.DevicePlugin.V1Beta1;
using Microsoft.Extensions.Logging;

namespace MetaGpu.DevicePlugin;

/// <summary>
/// The kubelet's DevicePlugin service for one resource. Every answer is computed from the current
/// <see cref="NodeState"/>; nothing here keeps state of its own, so a restarted daemon answers the same way.
/// </summary>
public sealed class MetaGpuDevicePlugin(string resourceName, NodeStateStore state, ILogger? log, CancellationToken stopping)
    : Proto.DevicePlugin.V1Beta1.DevicePlugin.DevicePluginBase
{
    public string ResourceName { get; } = resourceName;

    /// <summary>Raised when a ListAndWatch stream ends for a reason other than our own stop: the kubelet went away.</summary>
    public event Action<string>? StreamLost;

    /// <summary>How many ListAndWatch streams are open (the kubelet keeps one).</summary>
    public int OpenStreams => Volatile.Read(ref _openStreams);

    private int _openStreams;

    public override Task<DevicePluginOptions> GetDevicePluginOptions(Empty request, ServerCallContext context) =>
        Task.FromResult(new DevicePluginOptions { GetPreferredAllocationAvailable = true, PreStartRequired = false });

    public override async Task ListAndWatch(Empty request, IServerStreamWriter<ListAndWatchResponse> responseStream, ServerCallContext context)
    {
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(context.CancellationToken, stopping);
        var token = linked.Token;
        Interlocked.Increment(ref _openStreams);
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
                        var unhealthy = snapshot.Devices.Count(d => d.Health != DeviceList.Healthy);
                        log?.LogInformation("ListAndWatch {Resource}: {Devices} devices, {Unhealthy} unhealthy", ResourceName, snapshot.Devices.Count, unhealthy);
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
            if (!stopping.IsCancellationRequested)
                StreamLost?.Invoke(ResourceName);
        }
    }

    public override Task<PreferredAllocationResponse> GetPreferredAllocation(PreferredAllocationRequest request, ServerCallContext context)
    {
        var current = state.Current;
        var plan = PlanOrThrow(current);
        var response = new PreferredAllocationResponse();
        foreach (var container in request.ContainerRequests)
        {
            var ids = AllocationPolicy.Preferred(plan, container.AvailableDeviceIDs, container.MustIncludeDeviceIDs, container.AllocationSize, current.Config.Policy);
            var answer = new ContainerPreferredAllocationResponse();
            answer.DeviceIDs.Add(ids);
            response.ContainerResponses.Add(answer);
        }
        return Task.FromResult(response);
    }

    public override Task<AllocateResponse> Allocate(AllocateRequest request, ServerCallContext context)
    {
        var current = state.Current;
        var plan = PlanOrThrow(current);
        var response = new AllocateResponse();
        foreach (var container in request.ContainerRequests)
            response.ContainerResponses.Add(AllocateContainer(plan, current.Config, container.DevicesIds));
        return Task.FromResult(response);
    }

    public override Task<PreStartContainerResponse> PreStartContainer(PreStartContainerRequest request, ServerCallContext context) =>
        Task.FromResult(new PreStartContainerResponse());

    private ResourcePlan PlanOrThrow(NodeState current) =>
        current.Plan.Find(ResourceName)
        ?? throw new RpcException(new Status(StatusCode.FailedPrecondition, $"resource {ResourceName} is no longer configured on this node"));

    /// <summary>What one container gets: the physical GPUs behind its meta-devices, its share of each, its memory limit.</summary>
    private ContainerAllocateResponse AllocateContainer(ResourcePlan plan, SharingConfig config, IReadOnlyCollection<string> ids)
    {
        if (ids.Count == 0)
            throw new RpcException(new Status(StatusCode.InvalidArgument, $"{ResourceName}: Allocate without device IDs"));
        AllocationShape shape;
        try
        {
            shape = AllocationPolicy.Describe(plan, ids);
        }
        catch (UnknownDeviceException e)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, $"{ResourceName}: {e.Message}"));
        }
        catch (ArgumentException e)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, $"{ResourceName}: {e.Message}"));
        }

        var gpus = string.Join(",", shape.PerGpu.Select(s => s.Gpu.Uuid));
        if (shape.SpansMoreGpusThanNeeded)
        {
            var message = $"{ResourceName}: {ids.Count} meta-devices would fit on {shape.MinimumGpus} GPU(s) but were given on {shape.PerGpu.Count} ({gpus})";
            if (config.Spanning == SpanningMode.Reject)
            {
                log?.LogWarning("refusing allocation: {Message}", message);
                throw new RpcException(new Status(StatusCode.FailedPrecondition, message + "; spanning is set to reject"));
            }
            log?.LogWarning("allocation spans GPUs: {Message}", message);
        }

        var response = new ContainerAllocateResponse();
        // Memory in proportion to the share of each GPU (MiB, rounded down once, not per share).
        var maxMemoryMiB = shape.PerGpu.Aggregate(0UL, (sum, s) => sum + (s.Gpu.MemoryBytes >> 20) * (ulong)s.Count / (ulong)s.Gpu.MetaGpus);
        var shares = string.Join(",", shape.PerGpu.Select(s => string.Create(CultureInfo.InvariantCulture, $"{s.Gpu.Uuid}={s.Count}/{s.Gpu.MetaGpus}")));
        switch (config.DeviceListStrategy)
        {
            case DeviceListStrategy.EnvVar:
                response.Envs["NVIDIA_VISIBLE_DEVICES"] = gpus;
                break;
            case DeviceListStrategy.CdiCri:
                foreach (var s in shape.PerGpu)
                    response.CdiDevices.Add(new CDIDevice { Name = CdiName(s.Gpu.Uuid) });
                break;
            case DeviceListStrategy.CdiAnnotations:
                response.Annotations[CdiAnnotationKey] = string.Join(",", shape.PerGpu.Select(s => CdiName(s.Gpu.Uuid)));
                break;
        }
        response.Envs["METAGPU_RESOURCE"] = ResourceName;
        response.Envs["METAGPU_DEVICE_UUIDS"] = gpus;
        response.Envs["METAGPU_DEVICE_IDS"] = string.Join(",", ids.Order(StringComparer.Ordinal));
        response.Envs["METAGPU_SHARES"] = shares;
        response.Envs["METAGPU_REQUEST"] = ids.Count.ToString(CultureInfo.InvariantCulture);
        response.Envs["METAGPU_MAX_MEM"] = maxMemoryMiB.ToString(CultureInfo.InvariantCulture);
        log?.LogInformation("Allocate {Resource}: {Count} meta-devices on {Gpus} ({Shares}), memory limit {MaxMemMiB} MiB",
            ResourceName, ids.Count, gpus, shares, maxMemoryMiB);
        return response;
    }

    /// <summary>The CDI name of a whole NVIDIA GPU, as the NVIDIA container toolkit generates its spec.</summary>
    public static string CdiName(string uuid) => "nvidia.com/gpu=" + uuid;

    /// <summary>The CDI annotation prefix is fixed; the suffix names who asks (unique per plugin).</summary>
    private string CdiAnnotationKey => "cdi.k8s.io/metagpu_" + SocketNames.Sanitize(ResourceName);
}

/// <summary>Names derived from a resource name, safe for file names and annotation keys.</summary>
public static class SocketNames
{
    /// <summary><c>cnvrg.io/metagpu</c> → <c>cnvrg.io_metagpu</c>.</summary>
    public static string Sanitize(string resourceName)
    {
        var chars = resourceName.ToCharArray();
        for (var i = 0; i < chars.Length; i++)
        {
            if (!(char.IsAsciiLetterOrDigit(chars[i]) || chars[i] is '.' or '-' or '_'))
                chars[i] = '_';
        }
        return new string(chars);
    }

    /// <summary>The socket file in the kubelet's plugin directory for a resource.</summary>
    public static string EndpointFileName(string resourceName) => "metagpu-" + Sanitize(resourceName) + ".sock";
}
