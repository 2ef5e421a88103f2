using System.Diagnostics;
using System.Text.Json;

namespace MetaGpu.Bench;

/// <summary>
/// <c>mgctl get processes -w</c> watchers, the same binary run as <c>metagpu ctl</c> with <c>--socket</c> naming the
/// daemon's control socket. They run as root on the node (this process's root mount is pid 1's), so the daemon gives
/// them node scope: every container. Their standard output is a pipe, so each view is one JSON line, and one is printed
/// only when the view changed. A restart stops one watcher with SIGTERM (mgctl's documented way to end a watch, exit
/// 0) and starts another, which must print its first view within <see cref="FirstViewTimeout"/>.
/// </summary>
sealed class SoakWatchers(string binary, string socket, SoakTally tally)
{
    public const int Count = 3;
    public static readonly TimeSpan FirstViewTimeout = TimeSpan.FromSeconds(5);

    private readonly List<Watcher> _running = [];
    private int _next;

    public async Task StartAsync()
    {
        for (var i = 0; i < Count; i++)
            _running.Add(await StartOneAsync());
    }

    /// <summary>The oldest watcher goes, a new one comes.</summary>
    public async Task RestartOneAsync()
    {
        var slot = _next++ % _running.Count;
        await StopOneAsync(_running[slot]);
        _running[slot] = await StartOneAsync();
        tally.Add(SoakCount.WatcherRestarts);
    }

    public async Task StopAllAsync()
    {
        foreach (var w in _running)
            await StopOneAsync(w);
        _running.Clear();
    }

    private async Task<Watcher> StartOneAsync()
    {
        var w = Watcher.Start(binary, socket, tally);
        if (await Task.WhenAny(w.FirstView, Task.Delay(FirstViewTimeout)) != w.FirstView)
            tally.Fail($"a new mgctl watcher printed no view within {FirstViewTimeout.TotalSeconds:0} s ({w.Describe()})");
        return w;
    }

    private async Task StopOneAsync(Watcher w)
    {
        var (code, said) = await w.StopAsync();
        if (code != 0)
            tally.Fail($"an mgctl watcher stopped with SIGTERM exited with {code?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "nothing within 5 s (killed)"}, not 0 ({said})");
    }

    private sealed class Watcher
    {
        private readonly Process _process;
        private readonly TaskCompletionSource _firstView = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private volatile string _lastError = "";
        private IDisposable? _killOnExit;

        private Watcher(Process process) => _process = process;

        public Task FirstView => _firstView.Task;

        public static Watcher Start(string binary, string socket, SoakTally tally)
        {
            var info = new ProcessStartInfo(binary, ["ctl", "get", "processes", "-w", "-o", "json", "--socket", socket])
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };
            var w = new Watcher(new Process { StartInfo = info });
            w._process.OutputDataReceived += (_, e) =>
            {
                if (e.Data is not { Length: > 0 } line)
                    return;
                if (!IsProcessesView(line))
                {
                    tally.Fail($"an mgctl watcher printed a line that is not a processes view: {(line.Length > 120 ? line[..120] + "…" : line)}");
                    return;
                }
                tally.Add(SoakCount.WatchViews);
                w._firstView.TrySetResult();
            };
            w._process.ErrorDataReceived += (_, e) =>
            {
                if (e.Data is { Length: > 0 } line)
                    w._lastError = line;
            };
            w._process.Start();
            w._killOnExit = KubeletBench.KillOnExit(w._process);
            w._process.BeginOutputReadLine();
            w._process.BeginErrorReadLine();
            return w;
        }

        private static bool IsProcessesView(string line)
        {
            try
            {
                using var doc = JsonDocument.Parse(line);
                return doc.RootElement.TryGetProperty("kind", out var kind) && kind.GetString() == "processes"
                    && doc.RootElement.TryGetProperty("containers", out var containers) && containers.ValueKind == JsonValueKind.Array;
            }
            catch (JsonException)
            {
                return false;
            }
        }

        public string Describe() => _process.HasExited
            ? $"it exited with {_process.ExitCode}{(_lastError.Length > 0 ? ": " + _lastError : "")}"
            : _lastError.Length > 0 ? "its last error line: " + _lastError : "it said nothing on standard error";

        /// <summary>SIGTERM; the exit code, or null when it had not exited within 5 s (then it is killed); and what it said.</summary>
        public async Task<(int? Code, string Said)> StopAsync()
        {
            try
            {
                if (!_process.HasExited)
                    PosixSignal.Terminate(_process.Id);
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
                await _process.WaitForExitAsync(cts.Token);
                return (_process.ExitCode, Describe());
            }
            catch (OperationCanceledException)
            {
                var said = Describe();
                _process.Kill();
                await _process.WaitForExitAsync();
                return (null, said);
            }
            finally
            {
                _killOnExit?.Dispose();
                _process.Dispose();
            }
        }
    }
}
