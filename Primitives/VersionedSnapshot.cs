namespace MetaGpu.Primitives;

/// <summary>A value that knows its place in a sequence of snapshots, so that a reader can ask "anything newer than mine?".</summary>
public interface IVersioned<TSelf> where TSelf : IVersioned<TSelf>
{
    long Version { get; }

    /// <summary>The same value stamped with <paramref name="version"/>.</summary>
    TSelf WithVersion(long version);
}

/// <summary>
/// One owner's state as an immutable snapshot behind one reference, with a change signal. Writers replace the whole
/// value (each replacement gets the next version); readers take <see cref="Current"/> and never see a half-made
/// change; waiters wake once per replacement and cannot miss one, because they wait for "newer than the version I
/// have", not for an event. Node state, GPU health and the workload view all use it.
/// </summary>
public class VersionedSnapshot<T> where T : class, IVersioned<T>
{
    private readonly Lock _lock = new();
    private T _current;
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public VersionedSnapshot(T initial)
    {
        ArgumentNullException.ThrowIfNull(initial);
        _current = initial;
    }

    public T Current
    {
        get
        {
            lock (_lock)
                return _current;
        }
    }

    /// <summary>Replaces the value with <paramref name="change"/> of the current one (atomically) and wakes every waiter.</summary>
    public T Update(Func<T, T> change)
    {
        TaskCompletionSource changed;
        T next;
        lock (_lock)
        {
            next = change(_current).WithVersion(_current.Version + 1);
            _current = next;
            changed = _changed;
            _changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }
        changed.TrySetResult();
        return next;
    }

    /// <summary>Replaces the value, whatever it was.</summary>
    public T Publish(T value) => Update(_ => value);

    /// <summary>A task that completes once the value is newer than <paramref name="afterVersion"/>; holds no registration.</summary>
    public Task WhenChanged(long afterVersion)
    {
        lock (_lock)
            return _current.Version > afterVersion ? Task.CompletedTask : _changed.Task;
    }

    /// <summary>The first value newer than <paramref name="afterVersion"/> (at once if there is one already).</summary>
    public async Task<T> WaitForChangeAsync(long afterVersion, CancellationToken cancellationToken)
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
