using System.Text;
using System.Text.Json;
using MetaGpu.Control.V1;

namespace MetaGpu.Tests.Control.Cli;

/// <summary>
/// <c>get processes -w</c>: one JSON line per change off a terminal, a redraw in place on one, Ctrl-C ending it with
/// exit 0, and carrying on after the daemon restarts.
/// </summary>
public sealed class MgctlWatchTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    /// <summary>A writer the test may read while mgctl writes to it from another thread.</summary>
    private sealed class SharedWriter : TextWriter
    {
        private readonly StringBuilder _text = new();

        public override Encoding Encoding => Encoding.UTF8;

        public override void Write(char value)
        {
            lock (_text)
                _text.Append(value);
        }

        public override void Write(string? value)
        {
            lock (_text)
                _text.Append(value);
        }

        public string Text
        {
            get
            {
                lock (_text)
                    return _text.ToString();
            }
        }

        public string[] Lines => Text.Split('\n', StringSplitOptions.RemoveEmptyEntries);
    }

    private sealed class Watch : IAsyncDisposable
    {
        private readonly CancellationTokenSource _interrupt = new();

        public Watch(StandInDaemon daemon, Func<MetaGpu.Control.Cli.MgctlEnvironment, MetaGpu.Control.Cli.MgctlEnvironment>? env = null, params string[] extra)
        {
            var e = MgctlRun.Env(daemon.SocketPath, _interrupt.Token);
            Run = Task.Run(() => MetaGpu.Control.Cli.MgctlApp.RunAsync(["get", "processes", "-w", .. extra], Stdout, Stderr, env is null ? e : env(e)));
        }

        public SharedWriter Stdout { get; } = new();
        public SharedWriter Stderr { get; } = new();
        public Task<int> Run { get; }

        public async Task UntilAsync(Func<bool> condition, string what)
        {
            var deadline = DateTime.UtcNow + Patience;
            while (!condition())
            {
                if (Run.IsCompleted)
                    Assert.Fail($"the watch ended (exit {await Run}) before {what}\n--- stdout:\n{Stdout.Text}\n--- stderr:\n{Stderr.Text}");
                if (DateTime.UtcNow > deadline)
                    Assert.Fail($"timed out waiting for {what}\n--- stdout:\n{Stdout.Text}\n--- stderr:\n{Stderr.Text}");
                await Task.Delay(20);
            }
        }

        /// <summary>Ctrl-C: the watch must end, with exit 0.</summary>
        public async Task<int> InterruptAsync()
        {
            _interrupt.Cancel();
            return await Run.WaitAsync(Patience);
        }

        public async ValueTask DisposeAsync()
        {
            _interrupt.Cancel();
            try
            {
                await Run.WaitAsync(Patience);
            }
            catch (Exception)
            {
            }
            _interrupt.Dispose();
        }
    }

    private static ListContainersResponse WithProcess(int pid, string command)
    {
        var c = Scenarios.AllocationContainers();
        c.Containers[0].Processes.Add(new MetaGpu.Control.V1.Process { Pid = pid, GpuUuid = Scenarios.Gpu0, GpuIndex = 0, Command = command, MemoryUsedBytes = 64 * Scenarios.MiB });
        return c;
    }

    private static int[] Pids(string line)
    {
        using var doc = JsonDocument.Parse(line);
        Assert.Equal("processes", doc.RootElement.GetProperty("kind").GetString());
        return doc.RootElement.GetProperty("containers").EnumerateArray()
            .SelectMany(c => c.GetProperty("processes").EnumerateArray())
            .Select(p => p.GetProperty("pid").ValueKind == JsonValueKind.Null ? 0 : p.GetProperty("pid").GetInt32())
            .ToArray();
    }

    [Fact]
    public async Task OffATerminalEachChangeIsOneJsonLine()
    {
        await using var daemon = new StandInDaemon();
        Scenarios.AsAllocation(daemon.Control);
        await using var watch = new Watch(daemon);
        await watch.UntilAsync(() => watch.Stdout.Lines.Length == 1, "the first view");
        Assert.Equal([118, 0, 131], Pids(watch.Stdout.Lines[0]));

        daemon.Control.Push(WithProcess(500, "python new.py"));
        await watch.UntilAsync(() => watch.Stdout.Lines.Length == 2, "the second view");
        // The same view again is no change: no line; the next change is.
        daemon.Control.Push(WithProcess(500, "python new.py"));
        daemon.Control.Push(WithProcess(501, "python newer.py"));
        await watch.UntilAsync(() => watch.Stdout.Lines.Length >= 3, "the third view");

        Assert.Equal(0, await watch.InterruptAsync());
        var lines = watch.Stdout.Lines;
        Assert.Equal(3, lines.Length);
        Assert.Equal([118, 0, 131, 500], Pids(lines[1]));
        Assert.Equal([118, 0, 131, 501], Pids(lines[2]));
        Assert.EndsWith("}\n", watch.Stdout.Text, StringComparison.Ordinal);
        Assert.Equal("", watch.Stderr.Text);
        // Each line carries the devices too (other containers' totals), as 'get processes -o json' does.
        using var doc = JsonDocument.Parse(lines[0]);
        Assert.Equal(2, doc.RootElement.GetProperty("devices")[0].GetProperty("others_processes").GetInt32());
    }

    [Fact]
    public async Task OnATerminalWithJsonItIsStillOneLinePerChange()
    {
        await using var daemon = new StandInDaemon();
        Scenarios.AsAllocation(daemon.Control);
        await using var watch = new Watch(daemon, e => e with { IsTerminal = true }, "-o", "json");
        await watch.UntilAsync(() => watch.Stdout.Lines.Length == 1, "the first view");
        Assert.Equal([118, 0, 131], Pids(watch.Stdout.Lines[0]));
        Assert.Equal(0, await watch.InterruptAsync());
    }

    [Fact]
    public async Task AfterTheDaemonRestartsTheWatchCarriesOn()
    {
        await using var daemon = new StandInDaemon();
        Scenarios.AsAllocation(daemon.Control);
        await using var watch = new Watch(daemon);
        await watch.UntilAsync(() => watch.Stdout.Lines.Length == 1, "the first view");

        await daemon.StopAsync();
        await watch.UntilAsync(() => watch.Stderr.Text.Contains("lost the daemon"), "the message that the daemon went away");
        await Task.Delay(800); // several attempts while it is away: still one message
        daemon.Control.Containers = WithProcess(600, "python after-restart.py");
        daemon.Start();
        await watch.UntilAsync(() => watch.Stdout.Lines.Length == 2, "a view from the restarted daemon");
        Assert.Equal([118, 0, 131, 600], Pids(watch.Stdout.Lines[1]));

        // And the new stream is live: a change after the restart arrives too.
        await watch.UntilAsync(() => daemon.Control.Watchers == 1, "the new watch stream");
        daemon.Control.Push(WithProcess(601, "python later.py"));
        await watch.UntilAsync(() => watch.Stdout.Lines.Length == 3, "a change after the restart");

        Assert.Equal(0, await watch.InterruptAsync());
        var stderr = watch.Stderr.Text;
        Assert.Equal(1, CountOf(stderr, "lost the daemon"));
        Assert.Equal(1, CountOf(stderr, "the daemon is back"));
        Assert.StartsWith("mgctl: lost the daemon (", stderr, StringComparison.Ordinal);
    }

    private static int CountOf(string text, string part) => (text.Length - text.Replace(part, "").Length) / part.Length;

    [Fact]
    public async Task OnATerminalTheTableIsRedrawnInPlace()
    {
        await using var daemon = new StandInDaemon();
        Scenarios.AsAllocation(daemon.Control);
        await using var watch = new Watch(daemon, e => e with { IsTerminal = true, Term = "xterm", NoColor = "1" });
        await watch.UntilAsync(() => watch.Stdout.Text.Contains("Processes:"), "the first frame");
        var first = watch.Stdout.Text;
        Assert.StartsWith("\u001b[H\u001b[2Jmgctl get processes -w   09:30:00   (Ctrl-C to stop)\u001b[K\n+---", first, StringComparison.Ordinal);
        Assert.EndsWith("\u001b[J", first, StringComparison.Ordinal);

        daemon.Control.Push(WithProcess(700, "python redrawn.py"));
        await watch.UntilAsync(() => watch.Stdout.Text.Contains("python redrawn.py"), "the second frame");
        Assert.Equal(0, await watch.InterruptAsync());
        var second = watch.Stdout.Text[first.Length..];
        Assert.StartsWith("\u001b[Hmgctl get processes -w", second, StringComparison.Ordinal); // home, no clearing of the whole screen again
        Assert.All(second.Split('\n').SkipLast(1), l => Assert.EndsWith("\u001b[K", l, StringComparison.Ordinal));
    }

    [Fact]
    public async Task OnADumbTerminalEachFrameIsPrintedBelowTheLast()
    {
        await using var daemon = new StandInDaemon();
        Scenarios.AsAllocation(daemon.Control);
        await using var watch = new Watch(daemon, e => e with { IsTerminal = true, Term = "dumb" });
        await watch.UntilAsync(() => watch.Stdout.Text.Contains("Processes:"), "the first frame");
        daemon.Control.Push(WithProcess(700, "python second.py"));
        await watch.UntilAsync(() => watch.Stdout.Text.Contains("python second.py"), "the second frame");
        Assert.Equal(0, await watch.InterruptAsync());
        Assert.DoesNotContain('\u001b', watch.Stdout.Text);
        Assert.Equal(2, CountOf(watch.Stdout.Text, "mgctl get processes -w"));
    }

    [Fact]
    public async Task AWatchThatCannotStartIsAnErrorNotARetry()
    {
        var socket = Path.Combine(Path.GetTempPath(), "mg-none-" + Guid.NewGuid().ToString("N")[..8], "control.sock");
        var r = await MgctlRun.RunAsync(MgctlRun.Env(socket), "get", "processes", "-w");
        Assert.Equal(3, r.ExitCode);
        Assert.StartsWith("mgctl: no MetaGPU socket at", r.Stderr, StringComparison.Ordinal);
    }
}
