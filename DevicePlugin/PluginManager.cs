using Grpc.Core;
using MetaGpu.DevicePlugin.Allocations;
using Microsoft.Extensions.Logging;

namespace MetaGpu.DevicePlugin;

/// <summary>
/// Keeps one registered endpoint per planned resource, whatever the kubelet does. It notices a kubelet restart
/// (its <c>kubelet.sock</c> re-created, our socket deleted, or our ListAndWatch stream closed), closes the old
/// stream, recreates the socket and registers again; a kubelet that is not there yet is retried with back-off.
/// Config changes that add or remove resources start or stop endpoints; other changes reach the kubelet through
/// ListAndWatch.
/// </summary>
public sealed class PluginManager(string pluginDirectory, NodeStateStore state, AllocationFiles allocations, ILogger? log, TimeSpan? pollInterval = null, TimeSpan? idleConnectionTimeout = null,
    PluginEvents? events = null, ContainerAdditions? additions = null)
{
    public const string KubeletSocketName = "kubelet.sock";
    private static readonly TimeSpan FirstBackoff = TimeSpan.FromMilliseconds(10);
    private static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(10);

    private readonly TimeSpan _poll = pollInterval ?? TimeSpan.FromMilliseconds(200);
    private readonly Dictionary<string, Slot> _slots = new(StringComparer.Ordinal);
    private DateTime? _kubeletSocketSeen;
    private long _reconciledVersion = -1;
    private TaskCompletionSource _directoryChanged = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public string KubeletSocket => Path.Combine(pluginDirectory, KubeletSocketName);

    /// <summary>Successful registrations so far (tests and logs).</summary>
    public int Registrations { get; private set; }

    /// <summary>The endpoint currently serving a resource, if registered or trying to.</summary>
    public PluginEndpoint? Endpoint(string resourceName) => _slots.TryGetValue(resourceName, out var s) ? s.Endpoint : null;

    /// <summary>Runs until <paramref name="stop"/> fires, then stops every endpoint (streams closed, sockets removed).</summary>
    public async Task RunAsync(CancellationToken stop)
    {
        // A kubelet restart shows as files created and deleted in its directory: inotify wakes the loop at once. The
        // poll stays, for what inotify cannot see (a directory replaced, watches exhausted).
        using var watch = new DirectoryWatch(pluginDirectory,
            () => Interlocked.Exchange(ref _directoryChanged, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult());
        if (!watch.Active)
            log?.LogWarning("{Problem}: a kubelet restart is noticed by polling, within {Poll} ms", watch.Problem, _poll.TotalMilliseconds);
        try
        {
            while (!stop.IsCancellationRequested)
            {
                var seen = state.Current.Version;
                var changed = Volatile.Read(ref _directoryChanged).Task;
                await ReconcileAsync(stop).ConfigureAwait(false);
                // Wake on a state change (a config edit adds a resource), a change in the directory, a retry that is
                // due, or at the next poll, whichever is first. WhenChanged holds no registration, so polling for
                // hours leaves nothing behind.
                await Task.WhenAny(state.WhenChanged(seen), changed, Task.Delay(NextWake(), stop)).ConfigureAwait(false);
                stop.ThrowIfCancellationRequested();
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
        }
        finally
        {
            foreach (var slot in _slots.Values)
                await slot.StopAsync().ConfigureAwait(false);
            _slots.Clear();
        }
    }

    /// <summary>The poll interval, or less when an unregistered resource's next attempt is due sooner.</summary>
    private TimeSpan NextWake()
    {
        var wake = _poll;
        var now = DateTime.UtcNow;
        foreach (var slot in _slots.Values)
        {
            if (slot.Endpoint is not null && !slot.Registered && slot.NextAttempt - now is var due && due < wake)
                wake = due;
        }
        return wake < TimeSpan.FromMilliseconds(1) ? TimeSpan.FromMilliseconds(1) : wake;
    }

    private async Task ReconcileAsync(CancellationToken stop)
    {
        // The set of resources changes only with the state; most polls only look at the sockets.
        var current = state.Current;
        if (current.Version != _reconciledVersion)
        {
            var wanted = new HashSet<string>(StringComparer.Ordinal);
            foreach (var r in current.Plan.Resources)
                wanted.Add(r.ResourceName);
            var gone = new List<string>();
            foreach (var name in _slots.Keys)
            {
                if (!wanted.Contains(name))
                    gone.Add(name);
            }
            foreach (var name in gone)
            {
                log?.LogInformation("resource {Resource} is no longer configured: closing its endpoint", name);
                await _slots[name].StopAsync().ConfigureAwait(false);
                _slots.Remove(name);
            }
            foreach (var name in wanted)
            {
                if (!_slots.ContainsKey(name))
                    _slots[name] = new Slot(name);
            }
            _reconciledVersion = current.Version;
        }

        // A new kubelet.sock means a new kubelet: it forgot every plugin and deleted every socket.
        var kubeletSocket = File.Exists(KubeletSocket) ? File.GetLastWriteTimeUtc(KubeletSocket) : (DateTime?)null;
        var kubeletRestarted = kubeletSocket is not null && _kubeletSocketSeen is not null && kubeletSocket != _kubeletSocketSeen;
        var kubeletAppeared = kubeletSocket is not null && _kubeletSocketSeen is null;
        _kubeletSocketSeen = kubeletSocket;

        foreach (var slot in _slots.Values)
        {
            if (stop.IsCancellationRequested)
                return;
            var reason = slot.Endpoint switch
            {
                null => "starting",
                _ when kubeletRestarted => "the kubelet restarted (kubelet.sock re-created)",
                { } e when !File.Exists(e.SocketPath) || File.GetLastWriteTimeUtc(e.SocketPath) != e.SocketCreated => "our socket was removed",
                { StreamLost: true } => "the kubelet closed ListAndWatch",
                _ when !slot.Registered && (kubeletAppeared || DateTime.UtcNow >= slot.NextAttempt) => "registering",
                _ => null,
            };
            if (reason is not null)
                await RegisterAsync(slot, reason, restart: slot.Endpoint is not null && reason != "registering", stop).ConfigureAwait(false);
        }
    }

    private async Task RegisterAsync(Slot slot, string reason, bool restart, CancellationToken stop)
    {
        if (restart || slot.Endpoint is null)
        {
            if (slot.Endpoint is not null)
            {
                log?.LogInformation("{Resource}: {Reason}; closing the old stream and registering again", slot.Name, reason);
                await slot.StopAsync().ConfigureAwait(false);
            }
            try
            {
                slot.Endpoint = new PluginEndpoint(slot.Name, pluginDirectory, state, allocations, log, idleConnectionTimeout, events, additions);
            }
            catch (PluginDirectoryException e)
            {
                slot.Failed(e.Message, log);
                return;
            }
            try
            {
                slot.Endpoint.Listen();
            }
            catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException or UnauthorizedAccessException)
            {
                slot.Failed($"cannot listen on {slot.Endpoint.SocketPath}: {e.Message}", log);
                await slot.StopAsync().ConfigureAwait(false);
                return;
            }
            slot.Registered = false;
        }
        try
        {
            await slot.Endpoint!.RegisterAsync(KubeletSocket, stop).ConfigureAwait(false);
            slot.Registered = true;
            events?.Registered?.Invoke(slot.Name);
            slot.Attempts = 0;
            slot.LastErrorClass = null;
            Registrations++;
            log?.LogInformation("{Resource}: registered with the kubelet as {Endpoint}", slot.Name, slot.Endpoint.FileName);
        }
        catch (RpcException) when (stop.IsCancellationRequested)
        {
            // Stopping while an attempt was under way: the attempt's failure is no news, the stop is.
        }
        catch (RpcException e)
        {
            slot.Failed(e.StatusCode == StatusCode.Unavailable
                ? $"no kubelet at {KubeletSocket} yet ({e.Status.Detail})"
                : $"the kubelet refused the registration: {e.StatusCode}: {e.Status.Detail}", log);
        }
    }

    /// <summary>The most attempts made <see cref="FirstBackoff"/> apart before the delay starts to double (half a second of them).</summary>
    internal const int QuickAttempts = 50;

    /// <summary>
    /// The wait after the <paramref name="attempts"/>-th failed registration in a row: 10 ms for the first
    /// <see cref="QuickAttempts"/>, then doubling from 20 ms to 10 s. The commonest failure is momentary: a restarting
    /// kubelet's socket file exists (inotify has seen it) a moment before the kubelet listens on it, and a connect then
    /// is refused. On a busy node that moment lasted 150 ms in the soak, and a delay that doubled from the first
    /// retry registered up to 160 ms after the kubelet listened; a refused connect on a Unix socket costs microseconds.
    /// </summary>
    internal static TimeSpan RetryDelay(int attempts)
    {
        if (attempts <= QuickAttempts)
            return FirstBackoff;
        var doublings = Math.Min(attempts - QuickAttempts, 20);
        return TimeSpan.FromMilliseconds(Math.Min(MaxBackoff.TotalMilliseconds, FirstBackoff.TotalMilliseconds * Math.Pow(2, doublings)));
    }

    private sealed class Slot(string name)
    {
        public string Name { get; } = name;
        public PluginEndpoint? Endpoint { get; set; }
        public bool Registered { get; set; }
        public int Attempts { get; set; }
        public DateTime NextAttempt { get; private set; }
        public string? LastErrorClass { get; set; }

        /// <summary>Backs off (see <see cref="RetryDelay"/>) and logs a warning only when the kind of failure changes.</summary>
        public void Failed(string why, ILogger? log)
        {
            Attempts++;
            NextAttempt = DateTime.UtcNow + RetryDelay(Attempts);
            var errorClass = why.Split(':')[0];
            if (errorClass != LastErrorClass)
                log?.LogWarning("{Resource}: {Why}; retrying with back-off", Name, why);
            else
                log?.LogDebug("{Resource}: attempt {Attempt} failed: {Why}", Name, Attempts, why);
            LastErrorClass = errorClass;
        }

        public async Task StopAsync()
        {
            if (Endpoint is { } e)
                await e.StopAsync().ConfigureAwait(false);
            Endpoint = null;
            Registered = false;
        }
    }
}
