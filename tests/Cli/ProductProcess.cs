using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.InteropServices;

namespace MetaGpu.Tests.Cli;

/// <summary>
/// Runs the published native binary as a separate process, as an operator runs it. <c>METAGPU_TEST_BINARY</c> points
/// the tests at another build (e.g. an older one, to see a regression test fail before its fix).
/// </summary>
public static partial class ProductProcess
{
    public sealed record Result(int ExitCode, string Stdout, string Stderr);

    public static async Task<string> BinaryAsync() =>
        Environment.GetEnvironmentVariable("METAGPU_TEST_BINARY") is { Length: > 0 } other ? other : await MetaGpu.Tests.DevicePlugin.PublishedBinary.PathAsync();

    public static async Task<Result> RunAsync(IEnumerable<string> args, IDictionary<string, string?>? env = null, TimeSpan? timeout = null)
    {
        await using var p = await StartAsync(args, env);
        try
        {
            return await p.WaitAsync(timeout ?? TimeSpan.FromSeconds(60));
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"metagpu {string.Join(' ', args)} did not exit in time");
        }
    }

    /// <summary>
    /// Starts the binary with its output collected line by line; the environment is cleared of METAGPU_* first. A
    /// <c>start</c> without a state directory of its own gets a temporary one (see <see cref="MetaGpu.Tests.DevicePlugin.TemporaryStateDirectory"/>).
    /// </summary>
    public static async Task<Running> StartAsync(IEnumerable<string> args, IDictionary<string, string?>? env = null)
    {
        var psi = new ProcessStartInfo(await BinaryAsync()) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args)
            psi.ArgumentList.Add(a);
        foreach (var name in psi.Environment.Keys.Where(k => k.StartsWith("METAGPU_", StringComparison.Ordinal) || k == "FAKE_NVML_CONFIG").ToList())
            psi.Environment.Remove(name);
        if (env is not null)
        {
            foreach (var (k, v) in env)
                psi.Environment[k] = v;
        }
        var stateDirectory = MetaGpu.Tests.DevicePlugin.TemporaryStateDirectory.IfNoneNamed(psi.ArgumentList.FirstOrDefault(), psi);
        MetaGpu.Tests.DevicePlugin.LoopbackMetrics.IfNoneNamed(psi.ArgumentList.FirstOrDefault(), psi);
        return new Running(Process.Start(psi)!, stateDirectory);
    }

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);

    public sealed class Running : IAsyncDisposable
    {
        private readonly Process _process;
        private readonly Task _stdout;
        private readonly Task _stderr;
        private readonly string? _stateDirectory;

        internal Running(Process process, string? stateDirectory)
        {
            _process = process;
            _stateDirectory = stateDirectory;
            _stdout = Pump(process.StandardOutput, Stdout);
            _stderr = Pump(process.StandardError, Stderr);
        }

        public ConcurrentQueue<string> Stdout { get; } = new();
        public ConcurrentQueue<string> Stderr { get; } = new();
        public string Output => string.Join('\n', Stdout) + "\n--- stderr:\n" + string.Join('\n', Stderr);

        public const int SIGHUP = 1;
        public const int SIGINT = 2;
        public const int SIGTERM = 15;

        public void Signal(int signal) => Kill(_process.Id, signal);

        /// <summary>The first line (of either stream) that contains <paramref name="text"/>, polling until it comes.</summary>
        public async Task<string> WaitForLineAsync(string text, TimeSpan timeout)
        {
            var deadline = DateTime.UtcNow + timeout;
            while (true)
            {
                if (Stdout.Concat(Stderr).FirstOrDefault(l => l.Contains(text, StringComparison.Ordinal)) is { } line)
                    return line;
                if (DateTime.UtcNow > deadline || _process.HasExited && _stdout.IsCompleted && _stderr.IsCompleted)
                    throw new TimeoutException($"no line with '{text}' within {timeout.TotalSeconds:0.#} s:\n{Output}");
                await Task.Delay(20);
            }
        }

        public async Task<Result> WaitAsync(TimeSpan timeout)
        {
            try
            {
                await _process.WaitForExitAsync().WaitAsync(timeout);
                await Task.WhenAll(_stdout, _stderr).WaitAsync(timeout);
            }
            catch (TimeoutException)
            {
                throw new TimeoutException($"metagpu did not exit within {timeout.TotalSeconds:0.#} s:\n{Output}");
            }
            return new Result(_process.ExitCode, Join(Stdout), Join(Stderr));
        }

        private static string Join(IEnumerable<string> lines) => string.Concat(lines.Select(l => l + "\n"));

        private static async Task Pump(StreamReader reader, ConcurrentQueue<string> lines)
        {
            while (await reader.ReadLineAsync() is { } line)
                lines.Enqueue(line);
        }

        public async ValueTask DisposeAsync()
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                await _process.WaitForExitAsync();
            }
            _process.Dispose();
            MetaGpu.Tests.DevicePlugin.TemporaryStateDirectory.Remove(_stateDirectory);
        }
    }
}
