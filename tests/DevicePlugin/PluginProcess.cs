using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.InteropServices;

namespace MetaGpu.Tests.DevicePlugin;

/// <summary><c>metagpu start</c> as a child process, with its log lines collected and SIGTERM on request.</summary>
public sealed partial class PluginProcess : IAsyncDisposable
{
    private readonly Process _process;

    private PluginProcess(Process process) => _process = process;

    public ConcurrentQueue<string> Log { get; } = new();
    public string LogText => string.Join('\n', Log);
    public bool HasExited => _process.HasExited;
    public int ExitCode => _process.ExitCode;

    public static PluginProcess Start(string binary, IEnumerable<string> args, IDictionary<string, string?>? env = null)
    {
        var psi = new ProcessStartInfo(binary) { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add("start");
        foreach (var a in args)
            psi.ArgumentList.Add(a);
        foreach (var name in psi.Environment.Keys.Where(k => k.StartsWith("METAGPU_", StringComparison.Ordinal)).ToList())
            psi.Environment.Remove(name);
        if (env is not null)
        {
            foreach (var (k, v) in env)
                psi.Environment[k] = v;
        }
        var process = new Process { StartInfo = psi };
        var plugin = new PluginProcess(process);
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

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }
        _process.Dispose();
    }
}
