using System.Diagnostics;
using MetaGpu.Nvml.Native;

namespace MetaGpu.Nvml;

/// <summary>
/// An NVML event set (see <see cref="NvmlBackend.WatchEvents"/>). <see cref="Wait"/> is meant for one thread; disposing
/// from another thread while it waits is safe: the set is freed when the wait returns.
/// </summary>
internal sealed unsafe class NvmlEventWatcher : IGpuEventWatcher
{
    private readonly NvmlBackend _backend;
    private readonly Dictionary<nint, string> _uuids;
    private readonly Lock _state = new();
    private nint _set;
    private bool _waiting;
    private bool _closed;

    internal NvmlEventWatcher(NvmlBackend backend, nint set, Dictionary<nint, string> uuids, Dictionary<string, string> failures, Dictionary<string, string> unwatched)
    {
        _backend = backend;
        _set = set;
        _uuids = uuids;
        RegistrationFailures = failures;
        Unwatched = unwatched;
    }

    public IReadOnlyDictionary<string, string> RegistrationFailures { get; }

    public IReadOnlyDictionary<string, string> Unwatched { get; }

    public GpuEvent? Wait(TimeSpan timeout)
    {
        lock (_state)
        {
            ObjectDisposedException.ThrowIf(_closed, this);
            if (_waiting)
                throw new InvalidOperationException("Wait is already in progress on another thread.");
            _waiting = true;
        }
        try
        {
            var started = Stopwatch.GetTimestamp();
            while (true)
            {
                NvmlEventData data = default;
                var left = timeout == Timeout.InfiniteTimeSpan ? TimeSpan.MaxValue : timeout - Stopwatch.GetElapsedTime(started);
                var code = NvmlNative.EventSetWait(_set, &data, Milliseconds(left));
                if (code == NvmlReturn.Timeout)
                    return null;
                if (code == NvmlReturn.GpuIsLost)
                    return new GpuEvent(UuidOf(data.Device), GpuEventKind.GpuLost, 0);
                NvmlErrors.Check(code, "nvmlEventSetWait_v2");
                if (NvmlValues.EventKind(data.EventType) is { } kind)
                    return new GpuEvent(UuidOf(data.Device), kind, data.EventData);
                // A type not asked for: keep waiting for what is left of the timeout.
                if (timeout != Timeout.InfiniteTimeSpan && Stopwatch.GetElapsedTime(started) >= timeout)
                    return null;
            }
        }
        finally
        {
            lock (_state)
            {
                _waiting = false;
                if (_closed)
                    FreeSet();
            }
        }
    }

    /// <summary>NVML's timeout in ms: rounded up, never negative, at most int.MaxValue (about 24 days).</summary>
    private static uint Milliseconds(TimeSpan timeout)
    {
        if (timeout <= TimeSpan.Zero)
            return 0;
        return (uint)Math.Min(Math.Ceiling(timeout.TotalMilliseconds), int.MaxValue);
    }

    private string? UuidOf(nint device)
    {
        if (device == 0)
            return null;
        if (_uuids.TryGetValue(device, out var uuid))
            return uuid;
        uuid = _backend.LookupUuid(device);
        if (uuid is not null)
            _uuids[device] = uuid;
        return uuid;
    }

    public void Dispose()
    {
        Release();
        _backend.Forget(this);
    }

    /// <summary>Frees the event set now, or when the wait in progress returns.</summary>
    internal void Release()
    {
        lock (_state)
        {
            _closed = true;
            if (!_waiting)
                FreeSet();
        }
    }

    private void FreeSet()
    {
        if (_set == 0)
            return;
        NvmlNative.EventSetFree(_set);
        _set = 0;
    }
}
