using MetaGpu.Primitives;
using Microsoft.Extensions.Logging;

namespace MetaGpu.Nvml;

/// <summary>
/// Watches GPU health on its own thread: waits (bounded) on the backend's event set for critical XIDs,
/// double-bit ECC errors and lost GPUs, asks every healthy GPU a cheap query every
/// <see cref="GpuHealthOptions.ProbeInterval"/> (a GPU can be lost without an event), and brings a GPU back once it
/// has been quiet for <see cref="GpuHealthOptions.RecoveryQuietPeriod"/> and answers queries again. A GPU whose event
/// registration failed counts as unhealthy and its registration is retried with back-off, so it comes back once the
/// fault is gone. When the event machinery itself fails, every GPU it covers is marked unhealthy with the reason and
/// the loop sets it up again later: the monitor never throws into its caller and never takes the daemon down.
/// </summary>
public sealed class GpuHealthMonitor : IDisposable
{
    private readonly IGpuBackend _backend;
    private volatile GpuHealthOptions _options;
    private readonly ILogger? _log;
    private readonly TimeProvider _time;
    private readonly Lock _lock = new();
    private readonly Dictionary<string, DateTimeOffset> _lastCritical = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _stop = new();
    private readonly VersionedSnapshot<GpuHealthSnapshot> _snapshot;
    private Thread? _thread;
    private int _registrationAttempts;
    private DateTimeOffset _nextRegistration;

    public GpuHealthMonitor(IGpuBackend backend, IEnumerable<string> uuids, GpuHealthOptions? options = null, ILogger? log = null, TimeProvider? time = null)
    {
        _backend = backend;
        _options = options ?? new GpuHealthOptions();
        _log = log;
        _time = time ?? TimeProvider.System;
        var now = _time.GetUtcNow();
        var gpus = new Dictionary<string, GpuHealth>(StringComparer.Ordinal);
        foreach (var u in uuids)
            gpus.Add(u, new GpuHealth(u, true, null, now));
        _snapshot = new(new GpuHealthSnapshot(1, gpus));
    }

    /// <summary>The rules in force; replaced on a config change and used from the next event on.</summary>
    public GpuHealthOptions Options
    {
        get => _options;
        set => _options = value ?? throw new ArgumentNullException(nameof(value));
    }

    public GpuHealthSnapshot Current => _snapshot.Current;

    /// <summary>Completes with the first snapshot newer than <paramref name="afterVersion"/>.</summary>
    public Task<GpuHealthSnapshot> WaitForChangeAsync(long afterVersion, CancellationToken cancellationToken) =>
        _snapshot.WaitForChangeAsync(afterVersion, cancellationToken);

    public void Start()
    {
        if (_thread is not null)
            throw new InvalidOperationException("already started");
        _thread = new Thread(Run) { IsBackground = true, Name = "gpu-health" };
        _thread.Start();
    }

    private void Run()
    {
        IGpuEventWatcher? watcher = null;
        var nextProbe = _time.GetUtcNow() + _options.ProbeInterval;
        while (!_stop.IsCancellationRequested)
        {
            try
            {
                if (watcher is null)
                {
                    watcher = _backend.WatchEvents();
                    _registrationAttempts = 0;
                    OnRegistered(watcher, previous: null);
                }
                else if (watcher.RegistrationFailures.Count > 0 && _time.GetUtcNow() >= _nextRegistration)
                {
                    watcher = RegisterAgain(watcher);
                }
                var e = watcher.Wait(_options.EventWaitTimeout);
                if (e is not null)
                    OnEvent(e);
                if (_time.GetUtcNow() >= nextProbe)
                {
                    ProbeHealthy();
                    nextProbe = _time.GetUtcNow() + _options.ProbeInterval;
                }
                CheckRecoveries(watcher);
            }
            catch (Exception ex)
            {
                // The event machinery broke: no event can vouch for any GPU now.
                _log?.LogError("GPU health events failed, marking all GPUs unhealthy: {Error}", ex.Message);
                MarkUnhealthy(Current.Gpus.Keys, "health events failed: " + ex.Message);
                watcher?.Dispose();
                watcher = null;
                _stop.Token.WaitHandle.WaitOne(_options.RetryDelay);
            }
        }
        watcher?.Dispose();
    }

    /// <summary>What a new event set means: GPUs it could not register are suspect, retried after a back-off.</summary>
    private void OnRegistered(IGpuEventWatcher watcher, IGpuEventWatcher? previous)
    {
        foreach (var (uuid, why) in watcher.RegistrationFailures)
            MarkUnhealthy([uuid], "health events unavailable: " + why);
        if (previous is not null)
        {
            foreach (var uuid in previous.RegistrationFailures.Keys)
            {
                if (!watcher.RegistrationFailures.ContainsKey(uuid))
                    _log?.LogInformation("GPU {Uuid}: health events registered again", uuid);
            }
        }
        foreach (var (uuid, why) in watcher.Unwatched)
        {
            if (previous is null || !previous.Unwatched.ContainsKey(uuid))
                _log?.LogWarning("GPU {Uuid} offers no health events ({Reason}); it stays usable, checked by queries only", uuid, why);
        }
        if (watcher.RegistrationFailures.Count == 0)
            return;
        var delay = BackOff();
        _log?.LogDebug("registering health events again in {Delay} for {Gpus}", delay, string.Join(", ", watcher.RegistrationFailures.Keys));
    }

    /// <summary>The next registration attempt: <see cref="GpuHealthOptions.RetryDelay"/> doubling per failed attempt, up to twelve times it.</summary>
    private TimeSpan BackOff()
    {
        _registrationAttempts++;
        var retry = _options.RetryDelay.Ticks;
        var delay = TimeSpan.FromTicks(Math.Min(retry * (1L << Math.Min(_registrationAttempts - 1, 20)), retry * 12));
        _nextRegistration = _time.GetUtcNow() + delay;
        return delay;
    }

    /// <summary>
    /// A fresh event set for every GPU, replacing <paramref name="old"/>. The new set is registered before the old one
    /// is drained and freed, so no event falls between them (one may come twice: health is idempotent). If the new set
    /// cannot be made, the old one stays and the back-off grows.
    /// </summary>
    private IGpuEventWatcher RegisterAgain(IGpuEventWatcher old)
    {
        IGpuEventWatcher fresh;
        try
        {
            fresh = _backend.WatchEvents();
        }
        catch (Exception ex)
        {
            _log?.LogDebug("registering health events again failed: {Error}", ex.Message);
            BackOff();
            return old;
        }
        try
        {
            while (old.Wait(TimeSpan.Zero) is { } e)
                OnEvent(e);
        }
        catch (Exception ex)
        {
            _log?.LogDebug("draining the old event set failed: {Error}", ex.Message);
        }
        old.Dispose();
        if (fresh.RegistrationFailures.Count < old.RegistrationFailures.Count)
            _registrationAttempts = 0;
        OnRegistered(fresh, old);
        return fresh;
    }

    /// <summary>Asks each healthy GPU a cheap query; one that does not answer is unhealthy (NVML's words say why).</summary>
    private void ProbeHealthy()
    {
        var healthy = new List<string>();
        lock (_lock)
        {
            foreach (var h in _snapshot.Current.Gpus.Values)
            {
                if (h.Healthy)
                    healthy.Add(h.Uuid);
            }
        }
        foreach (var uuid in healthy)
        {
            try
            {
                _backend.Probe(uuid);
            }
            catch (GpuBackendException e)
            {
                MarkUnhealthy([uuid], "does not answer: " + e.Message);
            }
        }
    }

    private void OnEvent(GpuEvent e)
    {
        string reason;
        switch (e.Kind)
        {
            case GpuEventKind.Xid when e.Data == 79:
                reason = "XID 79: GPU has fallen off the bus";
                break;
            case GpuEventKind.Xid when _options.IgnoredXids.Contains(e.Data):
                _log?.LogInformation("GPU {Uuid}: XID {Xid} is an application error, health unchanged", e.Uuid, e.Data);
                return;
            case GpuEventKind.Xid:
                reason = $"XID {e.Data}";
                break;
            case GpuEventKind.DoubleBitEcc:
                reason = "double-bit ECC error";
                break;
            case GpuEventKind.GpuLost:
                reason = "GPU is lost";
                break;
            default:
                _log?.LogInformation("GPU {Uuid}: {Kind} event, health unchanged", e.Uuid, e.Kind);
                return;
        }
        // NVML could not say which GPU: every GPU is suspect.
        IEnumerable<string> targets = e.Uuid is null ? Current.Gpus.Keys : [e.Uuid];
        MarkUnhealthy(targets, reason);
    }

    private void MarkUnhealthy(IEnumerable<string> uuids, string reason)
    {
        var now = _time.GetUtcNow();
        var changed = new List<GpuHealth>();
        lock (_lock)
        {
            var gpus = new Dictionary<string, GpuHealth>(_snapshot.Current.Gpus, StringComparer.Ordinal);
            foreach (var uuid in uuids)
            {
                if (!gpus.TryGetValue(uuid, out var old))
                    continue;
                _lastCritical[uuid] = now;
                if (!old.Healthy && old.Reason == reason)
                    continue;
                var h = new GpuHealth(uuid, false, reason, old.Healthy ? now : old.Since);
                gpus[uuid] = h;
                changed.Add(h);
            }
            if (changed.Count > 0)
                PublishLocked(gpus);
        }
        foreach (var h in changed)
            _log?.LogWarning("GPU {Uuid} is unhealthy: {Reason}", h.Uuid, h.Reason);
    }

    private void CheckRecoveries(IGpuEventWatcher watcher)
    {
        var now = _time.GetUtcNow();
        var candidates = new List<string>();
        lock (_lock)
        {
            foreach (var h in _snapshot.Current.Gpus.Values)
            {
                if (h.Healthy || watcher.RegistrationFailures.ContainsKey(h.Uuid))
                    continue;
                if (!_lastCritical.TryGetValue(h.Uuid, out var last) || now - last >= _options.RecoveryQuietPeriod)
                    candidates.Add(h.Uuid);
            }
        }
        foreach (var uuid in candidates)
        {
            try
            {
                _backend.Probe(uuid);
            }
            catch (Exception e)
            {
                // Still not answering: the quiet period starts again.
                lock (_lock)
                    _lastCritical[uuid] = now;
                _log?.LogWarning("GPU {Uuid} still unhealthy: {Error}", uuid, e.Message);
                continue;
            }
            lock (_lock)
            {
                var gpus = new Dictionary<string, GpuHealth>(_snapshot.Current.Gpus, StringComparer.Ordinal);
                gpus[uuid] = new GpuHealth(uuid, true, null, now);
                PublishLocked(gpus);
            }
            _log?.LogInformation("GPU {Uuid} is healthy again after {Quiet} without critical events", uuid, _options.RecoveryQuietPeriod);
        }
    }

    private void PublishLocked(Dictionary<string, GpuHealth> gpus)
    {
        // Writers hold _lock (they read the current GPUs and publish a change of them); the version is the snapshot's.
        _snapshot.Publish(new GpuHealthSnapshot(0, gpus));
    }

    /// <summary>Stops the loop; returns within about one event-wait timeout.</summary>
    public void Dispose()
    {
        _stop.Cancel();
        if (_thread is { } t && t != Thread.CurrentThread)
            t.Join(_options.EventWaitTimeout + TimeSpan.FromSeconds(2));
    }
}
