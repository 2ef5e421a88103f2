using MetaGpu.DevicePlugin.Config;
using MetaGpu.Nvml;

namespace MetaGpu.DevicePlugin;

/// <summary>
/// Everything the plugin serves from, at one moment: config, GPU inventory, share plan, health. Immutable; a change
/// builds a new state with a higher version and wakes whoever waits (ListAndWatch streams).
/// </summary>
public sealed record NodeState(long Version, SharingConfig Config, GpuInventory Inventory, SharePlan Plan, GpuHealthSnapshot Health);

/// <summary>The one owner of <see cref="NodeState"/>.</summary>
public sealed class NodeStateStore(NodeState initial)
{
    private readonly Lock _lock = new();
    private NodeState _current = initial;
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public NodeState Current
    {
        get
        {
            lock (_lock)
                return _current;
        }
    }

    public NodeState Update(Func<NodeState, NodeState> change)
    {
        TaskCompletionSource changed;
        NodeState next;
        lock (_lock)
        {
            next = change(_current) with { Version = _current.Version + 1 };
            _current = next;
            changed = _changed;
            _changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }
        changed.TrySetResult();
        return next;
    }

    /// <summary>A task that completes once the state is newer than <paramref name="afterVersion"/>; holds no registration.</summary>
    public Task WhenChanged(long afterVersion)
    {
        lock (_lock)
            return _current.Version > afterVersion ? Task.CompletedTask : _changed.Task;
    }

    public async Task<NodeState> WaitForChangeAsync(long afterVersion, CancellationToken cancellationToken)
    {
        while (true)
        {
            Task changed;
            lock (_lock)
            {
                if (_current.Version > afterVersion)
                    return _current;
                changed = _changed.Task;
            }
            await changed.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }
}
