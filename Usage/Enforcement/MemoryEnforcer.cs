using MetaGpu.DevicePlugin.Config;
using MetaGpu.Primitives;
using MetaGpu.Usage.Workload;
using Microsoft.Extensions.Logging;

namespace MetaGpu.Usage.Enforcement;

/// <summary>
/// Compares, at every refresh, what each allocation's processes use on each GPU with what the allocation is allowed
/// there. Over it: one warning when the episode begins (report and kill modes); in kill mode, once the allocation has
/// been over for the grace period, SIGKILL its largest process on that GPU, then the next largest, until what is left
/// fits. Only processes of that allocation whose identity was read in this refresh are candidates, and the signaller
/// checks that the pid is still the process that was measured. Every action is a log line and a counter.
/// </summary>
public sealed class MemoryEnforcer(IProcessSignaller signaller, ILogger? log, TimeProvider? time = null)
{
    /// <summary>A process we killed stays remembered this long, so that it is not killed (and logged) again while it exits.</summary>
    public static readonly TimeSpan KilledMemory = TimeSpan.FromSeconds(30);

    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private readonly Dictionary<(string Key, string Uuid), DateTimeOffset> _overSince = [];
    private readonly Dictionary<(int Pid, ulong Start), DateTimeOffset> _killed = [];

    public EnforcementCounters Counters { get; } = new();

    /// <summary>Applies <paramref name="options"/> to one view; returns the processes it killed.</summary>
    public IReadOnlyList<GpuProcessUsage> Apply(WorkloadView view, MemorySettings options)
    {
        var now = _time.GetUtcNow();
        // A dictionary's entries may be removed while it is enumerated (since .NET Core 3.0).
        foreach (var (k, at) in _killed)
        {
            if (now - at > KilledMemory)
                _killed.Remove(k);
        }
        var killed = new List<GpuProcessUsage>();
        var over = new HashSet<(string, string)>();
        if (options.Enforcement != EnforcementMode.Off)
        {
            foreach (var container in view.Containers)
            {
                foreach (var gpu in container.Gpus)
                {
                    if (gpu.MemoryUsedBytes <= gpu.MemoryAllowedBytes)
                        continue;
                    var episode = (container.AllocationKey, gpu.Uuid);
                    over.Add(episode);
                    var processes = Candidates(container, gpu.Uuid);
                    if (!_overSince.TryGetValue(episode, out var since))
                    {
                        since = now;
                        _overSince[episode] = now;
                        Report(container, gpu, processes.Count > 0 ? processes[0] : null, options);
                    }
                    if (options.Enforcement == EnforcementMode.Kill && now - since >= options.GracePeriod)
                        KillUntilUnder(container, gpu, processes, now, killed);
                }
            }
        }
        foreach (var episode in _overSince.Keys)
        {
            if (over.Contains(episode))
                continue;
            _overSince.Remove(episode);
            var c = view.ContainerOf(episode.Key);
            log?.LogInformation("GPU memory back within the limit: {Namespace}/{Pod} container {Container} on GPU {Uuid}",
                c?.Namespace ?? "", c?.Pod ?? "", c?.Container ?? "", episode.Uuid);
        }
        return killed;
    }

    /// <summary>
    /// The processes of <paramref name="container"/> on one GPU that may be killed (identified in this refresh, their
    /// memory known): largest first, then by pid, equal ones in the view's order.
    /// </summary>
    private static List<GpuProcessUsage> Candidates(ContainerUsage container, string uuid)
    {
        var processes = new List<GpuProcessUsage>();
        foreach (var p in container.Processes)
        {
            if (p.GpuUuid == uuid && p.Identified && p.MemoryUsedBytes is not null)
                processes.Add(p);
        }
        StableSort.Sort(processes, static (a, b) =>
        {
            var byMemory = b.MemoryUsedBytes!.Value.CompareTo(a.MemoryUsedBytes!.Value);
            return byMemory != 0 ? byMemory : a.Pid.CompareTo(b.Pid);
        });
        return processes;
    }

    private void Report(ContainerUsage container, ContainerGpu gpu, GpuProcessUsage? largest, MemorySettings options)
    {
        Counters.Add(EnforcementCounters.Reported);
        var then = options.Enforcement == EnforcementMode.Kill
            ? options.GracePeriod > TimeSpan.Zero ? $"; its largest process is killed after {options.GracePeriod.TotalSeconds:0.###} s over the limit" : "; killing its largest process"
            : "";
        log?.LogWarning(
            "GPU memory over the limit: {Namespace}/{Pod} container {Container} ({Resource} {Request}) uses {UsedMiB} MiB on GPU {Index} ({Uuid}), allowed {AllowedMiB} MiB; " +
            "largest process pid {Pid} ({Command}) {ProcessMiB} MiB{Then}",
            container.Namespace, container.Pod, container.Container, container.Resource, container.Request,
            gpu.MemoryUsedBytes >> 20, gpu.Index, gpu.Uuid, gpu.MemoryAllowedBytes >> 20,
            largest?.Pid ?? 0, Short(largest?.CommandLine), (largest?.MemoryUsedBytes ?? 0) >> 20, then);
    }

    private void KillUntilUnder(ContainerUsage container, ContainerGpu gpu, List<GpuProcessUsage> processes, DateTimeOffset now, List<GpuProcessUsage> killed)
    {
        var remaining = gpu.MemoryUsedBytes;
        foreach (var p in processes)
        {
            if (remaining <= gpu.MemoryAllowedBytes)
                return;
            var memory = p.MemoryUsedBytes ?? 0;
            if (_killed.ContainsKey((p.Pid, p.StartTicks)))
            {
                // Killed already and still exiting: its memory is on its way back.
                remaining -= Math.Min(remaining, memory);
                continue;
            }
            var outcome = signaller.Kill(p.Pid, p.StartTicks, out var detail);
            switch (outcome)
            {
                case KillOutcome.Killed:
                    _killed[(p.Pid, p.StartTicks)] = now;
                    killed.Add(p);
                    remaining -= Math.Min(remaining, memory);
                    Counters.Add(EnforcementCounters.Killed);
                    log?.LogWarning(
                        "killed pid {Pid} ({Command}) of {Namespace}/{Pod} container {Container}: {ProcessMiB} MiB of {UsedMiB} MiB on GPU {Index} ({Uuid}), allowed {AllowedMiB} MiB ({Detail})",
                        p.Pid, Short(p.CommandLine), container.Namespace, container.Pod, container.Container, memory >> 20,
                        gpu.MemoryUsedBytes >> 20, gpu.Index, gpu.Uuid, gpu.MemoryAllowedBytes >> 20, detail);
                    break;
                case KillOutcome.Gone:
                    // It exited on its own between the measurement and now: its memory is going back too.
                    remaining -= Math.Min(remaining, memory);
                    Counters.Add(EnforcementCounters.Gone);
                    log?.LogInformation("pid {Pid} of {Namespace}/{Pod} exited before it could be killed", p.Pid, container.Namespace, container.Pod);
                    break;
                case KillOutcome.Reused:
                    Counters.Add(EnforcementCounters.Skipped);
                    log?.LogWarning("not killing pid {Pid} of {Namespace}/{Pod}: {Detail}", p.Pid, container.Namespace, container.Pod, detail);
                    break;
                default:
                    Counters.Add(EnforcementCounters.Failed);
                    log?.LogError("cannot kill pid {Pid} ({Command}) of {Namespace}/{Pod} container {Container}: {Detail}{Hint}",
                        p.Pid, Short(p.CommandLine), container.Namespace, container.Pod, container.Container, detail,
                        outcome == KillOutcome.Refused ? " (the daemon needs CAP_KILL to signal other users' processes)" : "");
                    break;
            }
        }
    }

    /// <summary>A command line as a log shows it: at most 80 characters.</summary>
    private static string Short(string? command) =>
        string.IsNullOrEmpty(command) ? "?" : command.Length <= 80 ? command : command[..79] + "…";
}

/// <summary>How many times each enforcement action happened since start (for /metrics).</summary>
public sealed class EnforcementCounters
{
    public const string Reported = "report", Killed = "kill", Gone = "gone", Skipped = "skip_reused", Failed = "kill_failed";

    public static readonly string[] Actions = [Reported, Killed, Gone, Skipped, Failed];

    private readonly long[] _counts = new long[Actions.Length];

    public void Add(string action) => Interlocked.Increment(ref _counts[Array.IndexOf(Actions, action)]);

    public long this[string action] => Interlocked.Read(ref _counts[Array.IndexOf(Actions, action)]);
}
