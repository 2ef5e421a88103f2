using System.Threading.Tasks.Sources;

namespace MetaGpu.Rpc.Http2;

/// <summary>
/// An auto-reset event for one waiter at a time, awaitable without allocating: a stream's reader waits
/// for data, a stream's writer waits for window. Waiters re-check their condition after waking, so a
/// spurious or coalesced <see cref="Set"/> is harmless.
/// </summary>
internal sealed class AsyncSignal : IValueTaskSource
{
    private ManualResetValueTaskSourceCore<bool> _core = new() { RunContinuationsAsynchronously = true };
    private readonly Lock _lock = new();
    private bool _signaled;
    private bool _waiting;
    private CancellationTokenRegistration _registration;

    public ValueTask WaitAsync(CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            if (_signaled)
            {
                _signaled = false;
                return default;
            }
            if (cancellationToken.IsCancellationRequested)
                return ValueTask.FromCanceled(cancellationToken);
            if (_waiting)
                throw new InvalidOperationException("AsyncSignal supports one waiter at a time");

            _core.Reset();
            _waiting = true;
            if (cancellationToken.CanBeCanceled)
                _registration = cancellationToken.UnsafeRegister(static (s, ct) => ((AsyncSignal)s!).Cancel(ct), this);
            return new ValueTask(this, _core.Version);
        }
    }

    /// <summary>
    /// Wakes the waiter, or lets the next wait pass. The waiter's continuation runs on the thread pool, unless
    /// <paramref name="continueHere"/>: then it runs on the caller's thread, before this returns (outside the lock),
    /// for a caller that means to run it (the read loop and an inline call's reader).
    /// </summary>
    public void Set(bool continueHere = false)
    {
        lock (_lock)
        {
            if (!_waiting)
            {
                _signaled = true;
                return;
            }
            _waiting = false;
            _core.RunContinuationsAsynchronously = !continueHere;
            if (!continueHere)
            {
                _core.SetResult(true);
                return;
            }
        }
        // No other Set or Cancel completes this wait now (_waiting is false), and the waiter has not woken.
        _core.SetResult(true);
    }

    private void Cancel(CancellationToken token)
    {
        lock (_lock)
        {
            if (!_waiting)
                return;
            _waiting = false;
            _core.SetException(new OperationCanceledException(token));
        }
    }

    void IValueTaskSource.GetResult(short token)
    {
        CancellationTokenRegistration registration;
        lock (_lock)
        {
            registration = _registration;
            _registration = default;
        }
        registration.Dispose();
        _core.GetResult(token);
    }

    ValueTaskSourceStatus IValueTaskSource.GetStatus(short token) => _core.GetStatus(token);

    void IValueTaskSource.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags)
        => _core.OnCompleted(continuation, state, token, flags);
}
