using Grpc.Core;
using MetaGpu.Proto.Health.V1;
using ServingStatus = MetaGpu.Proto.Health.V1.HealthCheckResponse.Types.ServingStatus;

namespace MetaGpu.Rpc.Grpc;

/// <summary>
/// grpc.health.v1: the serving status of the server ("") and of named services. Check answers NOT_FOUND for a
/// service never set; Watch streams the status now and on every change.
/// </summary>
public sealed class HealthService : Health.HealthBase
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, ServingStatus> _statuses = new(StringComparer.Ordinal) { [""] = ServingStatus.Serving };
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public void SetStatus(string service, ServingStatus status)
    {
        TaskCompletionSource changed;
        lock (_lock)
        {
            if (_statuses.TryGetValue(service, out var old) && old == status)
                return;
            _statuses[service] = status;
            changed = _changed;
            _changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }
        changed.TrySetResult();
    }

    private (ServingStatus? Status, Task Changed) Get(string service)
    {
        lock (_lock)
            return (_statuses.TryGetValue(service, out var s) ? s : null, _changed.Task);
    }

    /// <summary>Serves this on <paramref name="server"/>; Check answers from memory, so it runs inline.</summary>
    public GrpcServer AddTo(GrpcServer server) =>
        server.AddUnary(HealthMethods.Check, Check, inline: true).AddServerStreaming(HealthMethods.Watch, Watch);

    public override Task<HealthCheckResponse> Check(HealthCheckRequest request, ServerCallContext context)
    {
        var (status, _) = Get(request.Service);
        if (status is null)
            throw new RpcException(new Status(StatusCode.NotFound, $"unknown service '{request.Service}'"));
        return Task.FromResult(new HealthCheckResponse { Status = status.Value });
    }

    public override async Task Watch(HealthCheckRequest request, IServerStreamWriter<HealthCheckResponse> responseStream, ServerCallContext context)
    {
        ServingStatus? sent = null;
        while (!context.CancellationToken.IsCancellationRequested)
        {
            var (status, changed) = Get(request.Service);
            var now = status ?? ServingStatus.ServiceUnknown;
            if (now != sent)
            {
                await responseStream.WriteAsync(new HealthCheckResponse { Status = now }).ConfigureAwait(false);
                sent = now;
            }
            await changed.WaitAsync(context.CancellationToken).ConfigureAwait(false);
        }
    }
}
