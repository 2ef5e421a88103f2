using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;

namespace MetaGpu.Bench;

/// <summary>
/// <c>--soak PATH [--soak-minutes N]</c>: the published daemon, the whole product, for N minutes under
/// <see cref="SoakMix"/>. Each second its footprint is read (between the mix's steps); each minute one line gives
/// the minute's floor and peak of RSS, RssAnon, open fds and threads and what the mix did, and a BENCH line the same;
/// at the end <see cref="SoakVerdict"/> says per metric whether it stayed flat after the first minute. The exit code
/// is 1 when one did not, or when the product failed anything the mix asked of it.
/// </summary>
static class SoakBench
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(30);

    public static async Task<bool> RunAsync(string binaryPath, int minutes)
    {
        var binary = Path.GetFullPath(binaryPath);
        if (!File.Exists(binary))
        {
            Console.Out.WriteLine($"FAILED: no file at {binary} (publish first: dotnet publish MetaGpu.csproj -c Release -r linux-x64 -o out)");
            return false;
        }
        var root = Directory.CreateTempSubdirectory("mg-soak-");
        // The watchdog's exit skips the finally below (the daemon and the watchers stop through their own KillOnExit).
        EventHandler removeOnExit = (_, _) => Remove(root);
        AppDomain.CurrentDomain.ProcessExit += removeOnExit;
        try
        {
            return await RunInAsync(binary, minutes, root.FullName);
        }
        finally
        {
            AppDomain.CurrentDomain.ProcessExit -= removeOnExit;
            Remove(root);
        }
    }

    private static void Remove(DirectoryInfo root)
    {
        try
        {
            root.Delete(recursive: true);
        }
        catch (IOException)
        {
            // Already gone, or a file still being written by a dying process: it is a temporary folder.
        }
    }

    private static async Task<bool> RunInAsync(string binary, int minutes, string root)
    {
        var tally = new SoakTally();
        var gpus = await SoakGpus.CreateAsync(root);
        var pluginDir = Directory.CreateDirectory(Path.Combine(root, "device-plugins")).FullName;
        var podResources = Path.Combine(Directory.CreateDirectory(Path.Combine(root, "pod-resources")).FullName, "kubelet.sock");
        var configs = new SoakConfigs(Path.Combine(root, "config.yaml"));
        var firstCount = configs.WriteFirst();
        var port = FreePort();
        SoakPods? pods = null;
        await using var kubelet = new SoakKubelet(pluginDir, podResources, () => pods!.PodResources(), tally);
        pods = new SoakPods(kubelet, tally);
        await kubelet.ListenAsync();

        PrintHeader(binary, minutes);
        var started = Stopwatch.GetTimestamp();
        await using var daemon = SoakDaemon.Start(binary,
        [
            "--config", configs.Path, "--nvml-library", gpus.Library, "--sysfs-root", gpus.SysfsRoot,
            "--kubelet-dir", pluginDir, "--state-dir", Path.Combine(root, "state"),
            "--metrics-address", $"127.0.0.1:{port}", "--pod-resources-socket", podResources,
        ], gpus, tally);
        var registration = kubelet.NextRegistration;
        if (await Task.WhenAny(registration, Task.Delay(StartTimeout)) != registration
            || !await kubelet.WaitForListingAsync(d => d.Count == firstCount && d.Values.All(x => x.Healthy), StartTimeout, CancellationToken.None)
            || await Task.WhenAny(daemon.ControlSocket, Task.Delay(StartTimeout)) != daemon.ControlSocket)
        {
            Console.Out.WriteLine($"FAILED: the daemon did not register, list {firstCount} healthy devices and serve its control API within " +
                $"{StartTimeout.TotalSeconds:0} s ({daemon.ExitDescription}); its last lines:\n{daemon.Tail(15)}");
            return false;
        }
        Console.Out.WriteLine($"registered and listed {firstCount} devices {Stopwatch.GetElapsedTime(started).TotalMilliseconds:0} ms after the launch; daemon pid {daemon.Pid}");

        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        var watchers = new SoakWatchers(binary, await daemon.ControlSocket, tally);
        await watchers.StartAsync();
        var mix = new SoakMix(kubelet, pods, gpus, configs, watchers, http, $"http://127.0.0.1:{port}/metrics", tally);
        using var stop = new CancellationTokenSource();
        var loops = mix.Start(stop.Token);

        var results = new List<SoakMinute>();
        var samples = new List<SoakFootprint>();
        var sampler = SampleAsync(daemon.Pid, mix, samples, stop.Token);
        var begin = Stopwatch.GetTimestamp();
        var before = tally.Snapshot();
        var reregistered = 0;
        Console.Out.WriteLine();
        Console.Out.WriteLine("minute  RSS MiB     RssAnon MiB  fds      threads  | admitted  left  away  restarts (re-register ms)  flaps  configs (applied)  views  watcher restarts  scrapes  listings  warnings  failures");
        for (var minute = 1; minute <= minutes; minute++)
        {
            var end = begin + minute * 60 * Stopwatch.Frequency;
            while (Stopwatch.GetTimestamp() < end && !daemon.HasExited && !mix.Stranded)
                await Task.Delay(TimeSpan.FromMilliseconds(Math.Min(500, Math.Max(1, (end - Stopwatch.GetTimestamp()) * 1000.0 / Stopwatch.Frequency))));
            if (daemon.HasExited || mix.Stranded)
            {
                tally.Fail(daemon.HasExited
                    ? $"the daemon {daemon.ExitDescription} in minute {minute}; its last lines:\n{daemon.Tail(15)}"
                    : $"the daemon was still not registered a minute after a kubelet restart (minute {minute}); its last lines:\n{daemon.Tail(15)}");
                break;
            }
            SoakFootprint[] taken;
            lock (samples)
            {
                taken = [.. samples];
                samples.Clear();
            }
            var now = tally.Snapshot();
            var rereg = tally.ReregisterMs;
            var result = Summarize(minute, taken, [.. now.Select((v, i) => v - before[i])], rereg[reregistered..]);
            before = now;
            reregistered = rereg.Length;
            results.Add(result);
            Print(result);
        }

        await stop.CancelAsync();
        var ended = Task.WhenAll([.. loops, sampler]);
        if (await Task.WhenAny(ended, Task.Delay(TimeSpan.FromSeconds(30))) != ended)
            tally.Fail("the mix did not wind down within 30 s of the end");
        await watchers.StopAllAsync();
        var exit = await daemon.StopAsync();
        if (exit != 0)
            tally.Fail($"the daemon, stopped with SIGTERM, {(exit is { } code ? $"exited with {code}" : "had not exited within 10 s (killed)")}, not 0; its last lines:\n{daemon.Tail(15)}");

        Console.Out.WriteLine();
        PrintSummary(tally, daemon, kubelet);
        var flat = SoakVerdict.Print(results) && results.Count == minutes;
        var failures = tally.Failures.Count;
        Console.Out.WriteLine(failures == 0
            ? "the product did everything the mix asked, in time"
            : $"FAILED: {failures} thing(s) the product got wrong or did not do in time (the FAILED lines above)");
        Console.Out.WriteLine(flat && failures == 0 ? "soak: PASSED" : "soak: FAILED");
        return flat && failures == 0;
    }

    /// <summary>Every second, between the mix's steps, the daemon's footprint; until stopped or the daemon is gone.</summary>
    private static async Task SampleAsync(int pid, SoakMix mix, List<SoakFootprint> into, CancellationToken ct)
    {
        try
        {
            using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1));
            while (await timer.WaitForNextTickAsync(ct))
            {
                if (!await mix.Steps.WaitAsync(TimeSpan.FromSeconds(5), ct))
                    continue;
                SoakFootprint? sample;
                try
                {
                    sample = SoakFootprint.Read(pid);
                }
                finally
                {
                    mix.Steps.Release();
                }
                if (sample is null)
                    return;
                lock (into)
                    into.Add(sample.Value);
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
    }

    private static SoakMinute Summarize(int number, SoakFootprint[] samples, long[] counts, double[] reregisterMs)
    {
        if (samples.Length == 0)
            return new SoakMinute(number, default, default, 0, counts, reregisterMs);
        // What the descriptors and threads were is taken from the sample that had the fewest of them.
        var fewestFds = samples.MinBy(s => s.Fds);
        var fewestThreads = samples.MinBy(s => s.Threads);
        var floor = new SoakFootprint(samples.Min(s => s.RssKiB), samples.Min(s => s.RssAnonKiB), fewestFds.Fds, fewestThreads.Threads,
            fewestFds.FdKinds, fewestThreads.ThreadNames);
        var peak = new SoakFootprint(samples.Max(s => s.RssKiB), samples.Max(s => s.RssAnonKiB), samples.Max(s => s.Fds), samples.Max(s => s.Threads), "", "");
        return new SoakMinute(number, floor, peak, samples.Length, counts, reregisterMs);
    }

    private static void PrintHeader(string binary, int minutes)
    {
        var w = Console.Out;
        w.WriteLine($"MetaGPU soak: {binary} ({new FileInfo(binary).Length / 1_000_000.0:0.00} MB), {minutes} minute(s), {Environment.ProcessorCount} cores");
        w.WriteLine($"  daemon: start, 8 fake-NVML GPUs, --config ({SoakConfigs.Describe}), usage every 1 s, metrics, control API");
        w.WriteLine($"  mix: a pod every {SoakPods.Arrival.TotalMilliseconds:0} ms (1-{SoakPods.MaxRequest} meta-devices, 2-8 s), a kubelet restart every {SoakMix.RestartEvery.TotalSeconds:0} s, " +
            $"a GPU flap every {SoakMix.FlapEvery.TotalSeconds:0} s, a config change every {SoakMix.ConfigEvery.TotalSeconds:0} s,");
        w.WriteLine($"       {SoakWatchers.Count} mgctl watchers (one restarted every {SoakMix.WatcherRestartEvery.TotalSeconds:0} s), GET /metrics every {SoakMix.ScrapeEvery.TotalSeconds:0} s");
        w.WriteLine("  each minute: the floor (lowest) and peak of one-second samples; flat is judged on the floors of minutes 2..N");
    }

    private static void Print(SoakMinute m)
    {
        static string MiB(long kib) => (kib / 1024.0).ToString("0.0", CultureInfo.InvariantCulture);
        var rereg = m.ReregisterMs.Length == 0 ? "" : $" ({string.Join(",", m.ReregisterMs.Select(x => x.ToString("0", CultureInfo.InvariantCulture)))})";
        Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{m.Number,6}  {MiB(m.Floor.RssKiB) + "-" + MiB(m.Peak.RssKiB),-11} {MiB(m.Floor.RssAnonKiB) + "-" + MiB(m.Peak.RssAnonKiB),-12} " +
            $"{m.Floor.Fds + "-" + m.Peak.Fds,-8} {m.Floor.Threads + "-" + m.Peak.Threads,-8} | " +
            $"{m.Count(SoakCount.Admitted),8}  {m.Count(SoakCount.Departed),4}  {m.Count(SoakCount.TurnedAway),4}  {(m.Count(SoakCount.Restarts) + rereg),-25}  " +
            $"{m.Count(SoakCount.Flaps),5}  {$"{m.Count(SoakCount.ConfigChanges)} ({m.Count(SoakCount.ConfigApplied)})",-17}  {m.Count(SoakCount.WatchViews),5}  " +
            $"{m.Count(SoakCount.WatcherRestarts),16}  {m.Count(SoakCount.Scrapes),7}  {m.Count(SoakCount.Listings),8}  {m.Count(SoakCount.DaemonWarnings),8}  {m.Count(SoakCount.Failures),8}"));
        var fields = new Dictionary<string, object>
        {
            ["config"] = "soak",
            ["figure"] = "minute",
            ["minute"] = m.Number,
            ["samples"] = m.Samples,
            ["rss_kib"] = m.Floor.RssKiB,
            ["rss_kib_peak"] = m.Peak.RssKiB,
            ["rss_anon_kib"] = m.Floor.RssAnonKiB,
            ["rss_anon_kib_peak"] = m.Peak.RssAnonKiB,
            ["fds"] = m.Floor.Fds,
            ["fds_peak"] = m.Peak.Fds,
            ["threads"] = m.Floor.Threads,
            ["threads_peak"] = m.Peak.Threads,
            ["reregister_ms"] = m.ReregisterMs.Select(x => Math.Round(x, 1)).ToArray(),
        };
        foreach (var c in SoakTally.All)
            fields[JsonNamingPolicy.SnakeCaseLower.ConvertName(c.ToString())] = m.Count(c);
        Console.Out.WriteLine("BENCH " + JsonSerializer.Serialize(fields));
    }

    private static void PrintSummary(SoakTally tally, SoakDaemon daemon, SoakKubelet kubelet)
    {
        var w = Console.Out;
        var totals = tally.Snapshot();
        w.WriteLine($"in all: {totals[(int)SoakCount.Admitted]} pods admitted, {totals[(int)SoakCount.TurnedAway]} turned away, " +
            $"{kubelet.Registrations} registrations for {totals[(int)SoakCount.Restarts]} kubelet restarts, {totals[(int)SoakCount.Flaps]} flaps, " +
            $"{totals[(int)SoakCount.ConfigChanges]} config changes listed ({totals[(int)SoakCount.ConfigApplied]} applied in the log), " +
            $"{totals[(int)SoakCount.WatchViews]} watcher views, {totals[(int)SoakCount.Scrapes]} scrapes");
        foreach (var (name, ms) in tally.Timings())
        {
            if (ms.Length == 0)
                continue;
            var sorted = ms.Order().ToArray();
            w.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  {name}: median {sorted[(sorted.Length - 1) / 2]:0} ms, max {sorted[^1]:0} ms ({sorted.Length})"));
        }
        var warnings = daemon.Warnings().ToList();
        if (warnings.Count > 0)
        {
            w.WriteLine($"the daemon's warn/fail lines, by kind ({warnings.Sum(x => x.Count)} in all):");
            foreach (var (message, count) in warnings.Take(8))
                w.WriteLine($"  {count,5} x {message}");
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
