using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.InteropServices;

namespace MetaGpu.Tests.DevicePlugin;

/// <summary>
/// <c>metagpu start</c> as a child process, with its log lines collected and SIGTERM on request. A <c>start</c> that
/// names no state directory (<c>--state-dir</c>, <c>METAGPU_STATE_DIR</c>) gets a temporary one, removed with the process:
/// a test never writes the product's default, /var/lib/metagpu.
/// </summary>
public sealed partial class PluginProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly string? _stateDirectory;

    private PluginProcess(Process process, string? stateDirectory)
    {
        _process = process;
        _stateDirectory = stateDirectory;
    }

    public ConcurrentQueue<string> Log { get; } = new();
    public string LogText => string.Join('\n', Log);
    public bool HasExited => _process.HasExited;
    public int ExitCode => _process.ExitCode;

    public int Id => _process.Id;

    public static PluginProcess Start(string binary, IEnumerable<string> args, IDictionary<string, string?>? env = null) =>
        StartCommand(binary, "start", args, env);

    /// <summary>Any command of the binary (<c>serve</c>, <c>start</c>, …) with its output collected.</summary>
    public static PluginProcess StartCommand(string binary, string command, IEnumerable<string> args, IDictionary<string, string?>? env = null)
    {
        var psi = new ProcessStartInfo(binary) { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(command);
        foreach (var a in args)
            psi.ArgumentList.Add(a);
        foreach (var name in psi.Environment.Keys.Where(k => k.StartsWith("METAGPU_", StringComparison.Ordinal)).ToList())
            psi.Environment.Remove(name);
        if (env is not null)
        {
            foreach (var (k, v) in env)
                psi.Environment[k] = v;
        }
        var stateDirectory = TemporaryStateDirectory.IfNoneNamed(command, psi);
        LoopbackMetrics.IfNoneNamed(command, psi);
        var process = new Process { StartInfo = psi };
        var plugin = new PluginProcess(process, stateDirectory);
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) plugin.Log.Enqueue(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) plugin.Log.Enqueue(e.Data); };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return plugin;
    }

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);

    /// <summary>Sends SIGTERM and waits for the exit code.</summary>
    public async Task<int> TerminateAsync(TimeSpan timeout)
    {
        Kill(_process.Id, 15);
        await _process.WaitForExitAsync().WaitAsync(timeout);
        return _process.ExitCode;
    }

    public async Task WaitForLogAsync(string text, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!Log.Any(l => l.Contains(text, StringComparison.Ordinal)))
        {
            if (DateTime.UtcNow > deadline || _process.HasExited)
                throw new TimeoutException($"no log line with '{text}' within {timeout.TotalSeconds:0.#} s; log:\n{LogText}");
            await Task.Delay(20);
        }
    }

    /// <summary>Waits for the process to end on its own and returns its exit code.</summary>
    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        try
        {
            await _process.WaitForExitAsync().WaitAsync(timeout);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"the process did not exit within {timeout.TotalSeconds:0.#} s; log:\n{LogText}");
        }
        _process.WaitForExit(); // drains the redirected output
        return _process.ExitCode;
    }

    /// <summary>Peak and current resident memory (VmHWM, VmRSS) in KiB, from /proc.</summary>
    public (long PeakKiB, long NowKiB) Memory()
    {
        long Read(string key) => File.ReadLines($"/proc/{_process.Id}/status")
            .Where(l => l.StartsWith(key + ":", StringComparison.Ordinal))
            .Select(l => long.Parse(l[(key.Length + 1)..].Trim().Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture))
            .First();
        return (Read("VmHWM"), Read("VmRSS"));
    }

    private bool _disposed;

    /// <summary>Kills what still runs and cleans up; again is a no-op (a test that stops it itself may still hold it in a using).</summary>
    public async ValueTask DisposeAsync()
    {
        if (_disposed)
            return;
        _disposed = true;
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }
        _process.Dispose();
        TemporaryStateDirectory.Remove(_stateDirectory);
    }
}
