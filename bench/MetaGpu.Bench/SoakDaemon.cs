using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;

namespace MetaGpu.Bench;

/// <summary>
/// <c>metagpu start</c> of the published binary, the whole product: the fake NVML's eight GPUs, the config file the
/// soak rewrites, usage every second against the soak kubelet's pod-resources socket, metrics on a loopback port, the
/// control API (and mgctl installed into the state directory). Its log is read line by line: config changes applied
/// and warn/fail lines are counted, and the last lines are kept to show when something fails.
/// </summary>
sealed class SoakDaemon : IAsyncDisposable
{
    public const string ConfigApplied = "configuration change applied";

    private readonly Process _process;
    private readonly SoakTally _tally;
    private readonly ConcurrentQueue<string> _tail = new();
    private readonly ConcurrentDictionary<string, int> _warnings = new(StringComparer.Ordinal);
    private readonly TaskCompletionSource<string> _controlSocket = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private IDisposable? _killOnExit;

    private SoakDaemon(Process process, SoakTally tally)
    {
        _process = process;
        _tally = tally;
    }

    public int Pid => _process.Id;
    public bool HasExited => _process.HasExited;

    /// <summary>The control socket, once the daemon's log has named it ("control API on PATH;").</summary>
    public Task<string> ControlSocket => _controlSocket.Task;

    public static SoakDaemon Start(string binary, IReadOnlyList<string> args, SoakGpus gpus, SoakTally tally)
    {
        var info = new ProcessStartInfo(binary) { RedirectStandardOutput = true, RedirectStandardError = true };
        info.ArgumentList.Add("start");
        foreach (var a in args)
            info.ArgumentList.Add(a);
        foreach (var name in info.Environment.Keys.Where(k => k.StartsWith("METAGPU_", StringComparison.Ordinal)).ToList())
            info.Environment.Remove(name);
        info.Environment["FAKE_NVML_CONFIG"] = gpus.World;
        var daemon = new SoakDaemon(new Process { StartInfo = info }, tally);
        daemon._process.OutputDataReceived += (_, e) => daemon.Read(e.Data);
        daemon._process.ErrorDataReceived += (_, e) => daemon.Read(e.Data);
        daemon._process.Start();
        daemon._killOnExit = KubeletBench.KillOnExit(daemon._process);
        daemon._process.BeginOutputReadLine();
        daemon._process.BeginErrorReadLine();
        return daemon;
    }

    private void Read(string? line)
    {
        if (line is null)
            return;
        _tail.Enqueue(line);
        while (_tail.Count > 40)
            _tail.TryDequeue(out _);
        if (line.Contains(ConfigApplied, StringComparison.Ordinal))
            _tally.Add(SoakCount.ConfigApplied);
        if (line.Contains(" warn: ", StringComparison.Ordinal) || line.Contains(" fail: ", StringComparison.Ordinal) || line.Contains(" crit: ", StringComparison.Ordinal))
        {
            _tally.Add(SoakCount.DaemonWarnings);
            // The message without its time stamp, so that repeats of one warning count as one kind.
            var message = line.IndexOf(' ') is var space and > 0 ? line[(space + 1)..] : line;
            _warnings.AddOrUpdate(message.Length > 160 ? message[..160] + "…" : message, 1, (_, n) => n + 1);
        }
        const string control = "control API on ";
        if (line.IndexOf(control, StringComparison.Ordinal) is var at and >= 0 && line.IndexOf(';', at) is var end and > 0)
            _controlSocket.TrySetResult(line[(at + control.Length)..end]);
    }

    /// <summary>The daemon's last log lines, indented, for a failure's report.</summary>
    public string Tail(int lines) => string.Join('\n', _tail.TakeLast(lines).Select(l => "  | " + l));

    /// <summary>Each kind of warn/fail line and how often it came.</summary>
    public IEnumerable<(string Message, int Count)> Warnings() => _warnings.OrderByDescending(w => w.Value).Select(w => (w.Key, w.Value));

    /// <summary>SIGTERM, as Kubernetes stops the pod; the exit code, or null when it had not exited within 10 s (then it is killed).</summary>
    public async Task<int?> StopAsync()
    {
        if (_process.HasExited)
            return _process.ExitCode;
        PosixSignal.Terminate(_process.Id);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        try
        {
            await _process.WaitForExitAsync(cts.Token);
            return _process.ExitCode;
        }
        catch (OperationCanceledException)
        {
            _process.Kill();
            await _process.WaitForExitAsync();
            return null;
        }
    }

    public async ValueTask DisposeAsync()
    {
        _killOnExit?.Dispose();
        if (!_process.HasExited)
        {
            _process.Kill();
            await _process.WaitForExitAsync();
        }
        _process.Dispose();
    }

    public string ExitDescription => _process.HasExited ? string.Create(CultureInfo.InvariantCulture, $"exited with {_process.ExitCode}") : "running";
}
