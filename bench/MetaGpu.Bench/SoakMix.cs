using System.Diagnostics;

namespace MetaGpu.Bench;

/// <summary>
/// Everything a node throws at the daemon, all at once, each part on its own loop at a steady rate:
/// <list type="bullet">
/// <item>a pod arrives every 250 ms (<see cref="SoakPods"/>: GetPreferredAllocation + Allocate, 2-8 s lives);</item>
/// <item>the kubelet restarts every 45 s; the daemon must register again within <see cref="RegisterTimeout"/>;</item>
/// <item>a GPU flaps every 15 s, GPU 0 to 7 in turn: an XID 48 (a double-bit ECC error, critical) in the fake NVML's
/// world; ListAndWatch must list its devices unhealthy within <see cref="UnhealthyTimeout"/>, then healthy again once
/// it has been quiet for the config's 2 s;</item>
/// <item>the config file swaps between its two versions every 20 s; ListAndWatch must show the new device count within
/// <see cref="ConfigTimeout"/> (the daemon polls its config every 2 s);</item>
/// <item>three <c>mgctl get processes -w</c> watchers run throughout; every 30 s the oldest is stopped and a new one
/// started;</item>
/// <item>GET /metrics every second.</item>
/// </list>
/// The first of each comes at a different moment (pods at once, a flap at 5 s, a config change at 10 s, a watcher
/// restart at 20 s, a kubelet restart at 30 s), so they interleave rather than coincide.
/// </summary>
sealed class SoakMix(SoakKubelet kubelet, SoakPods pods, SoakGpus gpus, SoakConfigs configs, SoakWatchers watchers, HttpClient http, string metricsUrl, SoakTally tally)
{
    public static readonly TimeSpan RestartEvery = TimeSpan.FromSeconds(45), FlapEvery = TimeSpan.FromSeconds(15),
        ConfigEvery = TimeSpan.FromSeconds(20), WatcherRestartEvery = TimeSpan.FromSeconds(30), ScrapeEvery = TimeSpan.FromSeconds(1);

    public static readonly TimeSpan RegisterTimeout = TimeSpan.FromSeconds(5), UnhealthyTimeout = TimeSpan.FromSeconds(5),
        HealthyTimeout = TimeSpan.FromSeconds(20), ConfigTimeout = TimeSpan.FromSeconds(10);

    /// <summary>A double-bit ECC error: not among the XIDs ignored by default.</summary>
    public const int FlapXid = 48;

    private int _flaps;

    /// <summary>
    /// Held by each step that opens or closes something in the daemon (a pod's admission, a kubelet restart, a watcher
    /// restart) or that excludes a GPU from admission: the footprint is read between steps, never in the middle of one.
    /// </summary>
    public SemaphoreSlim Steps { get; } = new(1, 1);

    /// <summary>Set when a restart left the daemon unregistered for a minute: nothing after it would mean anything.</summary>
    public bool Stranded { get; private set; }

    public Task[] Start(CancellationToken ct) =>
    [
        Every("pods", SoakPods.Arrival, TimeSpan.Zero, () => StepAsync(() => pods.StepAsync(ct), ct), ct),
        Every("flaps", FlapEvery, TimeSpan.FromSeconds(5), () => FlapAsync(ct), ct),
        Every("config changes", ConfigEvery, TimeSpan.FromSeconds(10), () => ChangeConfigAsync(ct), ct),
        Every("watcher restarts", WatcherRestartEvery, TimeSpan.FromSeconds(20), () => StepAsync(watchers.RestartOneAsync, ct), ct),
        Every("kubelet restarts", RestartEvery, TimeSpan.FromSeconds(30), () => StepAsync(RestartKubeletAsync, ct), ct),
        Every("scrapes", ScrapeEvery, TimeSpan.Zero, () => ScrapeAsync(ct), ct),
    ];

    private async Task Every(string name, TimeSpan period, TimeSpan first, Func<Task> step, CancellationToken ct)
    {
        try
        {
            await Task.Delay(first, ct);
            using var timer = new PeriodicTimer(period);
            do
            {
                try
                {
                    await step();
                }
                catch (Exception e) when (!ct.IsCancellationRequested)
                {
                    tally.Fail($"{name}: {e.GetType().Name}: {e.Message}");
                }
            }
            while (await timer.WaitForNextTickAsync(ct));
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
    }

    private async Task StepAsync(Func<Task> step, CancellationToken ct)
    {
        await Steps.WaitAsync(ct);
        try
        {
            await step();
        }
        finally
        {
            Steps.Release();
        }
    }

    private async Task RestartKubeletAsync()
    {
        await kubelet.RestartAsync();
        var registration = kubelet.NextRegistration;
        if (await Task.WhenAny(registration, Task.Delay(RegisterTimeout)) != registration)
        {
            tally.Fail($"the daemon did not register within {RegisterTimeout.TotalSeconds:0} s of the new kubelet.sock");
            if (await Task.WhenAny(registration, Task.Delay(TimeSpan.FromMinutes(1))) != registration)
            {
                Stranded = true;
                return;
            }
        }
        tally.Reregistered(Stopwatch.GetElapsedTime(kubelet.ListenedAt, kubelet.RegisteredAt).TotalMilliseconds);
        if (!await kubelet.WaitForListingAsync(d => d.Count > 0, RegisterTimeout, CancellationToken.None))
            tally.Fail($"no ListAndWatch message within {RegisterTimeout.TotalSeconds:0} s of registering again");
    }

    private async Task FlapAsync(CancellationToken ct)
    {
        var gpu = _flaps++ % SoakGpus.Count;
        var uuid = gpus.Uuids[gpu];
        await StepAsync(() =>
        {
            pods.Exclude(uuid);
            return Task.CompletedTask;
        }, ct);
        try
        {
            var injected = Stopwatch.GetTimestamp();
            gpus.InjectXid(gpu, FlapXid);
            if (!await kubelet.WaitForListingAsync(d => AllOf(d, uuid, healthy: false), UnhealthyTimeout, ct))
            {
                if (!ct.IsCancellationRequested)
                    tally.Fail($"GPU {gpu}: not listed unhealthy within {UnhealthyTimeout.TotalSeconds:0} s of XID {FlapXid}");
                return;
            }
            var unhealthyMs = Stopwatch.GetElapsedTime(injected).TotalMilliseconds;
            var listedUnhealthy = Stopwatch.GetTimestamp();
            if (!await kubelet.WaitForListingAsync(d => AllOf(d, uuid, healthy: true), HealthyTimeout, ct))
            {
                if (!ct.IsCancellationRequested)
                    tally.Fail($"GPU {gpu}: not listed healthy again within {HealthyTimeout.TotalSeconds:0} s of being listed unhealthy");
                return;
            }
            tally.Flapped(unhealthyMs, Stopwatch.GetElapsedTime(listedUnhealthy).TotalMilliseconds);
        }
        finally
        {
            pods.Include(uuid);
        }
    }

    private static bool AllOf(IReadOnlyDictionary<string, SoakDevice> devices, string uuid, bool healthy)
    {
        var any = false;
        foreach (var d in devices.Values)
        {
            if (d.Uuid != uuid)
                continue;
            if (d.Healthy != healthy)
                return false;
            any = true;
        }
        return any;
    }

    private async Task ChangeConfigAsync(CancellationToken ct)
    {
        var written = Stopwatch.GetTimestamp();
        var expected = configs.WriteNext();
        if (await kubelet.WaitForListingAsync(d => d.Count == expected, ConfigTimeout, ct))
            tally.ConfigChanged(Stopwatch.GetElapsedTime(written).TotalMilliseconds);
        else if (!ct.IsCancellationRequested)
            tally.Fail($"ListAndWatch did not show the config's {expected} devices within {ConfigTimeout.TotalSeconds:0} s");
    }

    private async Task ScrapeAsync(CancellationToken ct)
    {
        try
        {
            using var response = await http.GetAsync(metricsUrl, ct);
            var body = await response.Content.ReadAsStringAsync(ct);
            if (response.StatusCode != System.Net.HttpStatusCode.OK || !body.Contains("metagpu_device_shares", StringComparison.Ordinal))
                tally.Fail($"GET /metrics: {(int)response.StatusCode}, {body.Length} bytes without metagpu_device_shares");
            else
                tally.Add(SoakCount.Scrapes);
        }
        catch (HttpRequestException e)
        {
            tally.Fail($"GET /metrics: {e.Message}");
        }
        catch (TaskCanceledException) when (!ct.IsCancellationRequested)
        {
            tally.Fail($"GET /metrics: no answer within {http.Timeout.TotalSeconds:0} s");
        }
    }
}
