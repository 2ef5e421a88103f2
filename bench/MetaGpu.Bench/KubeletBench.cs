using System.Diagnostics;
using System.Text.Json;

namespace MetaGpu.Bench;

/// <summary>One plugin the kubelet benchmark launches: its name in the figures and its command line, in which
/// kubeletsim replaces <c>{dir}</c>, <c>{scratch}</c>, <c>{port}</c> and <c>{pod-resources}</c> per launch.</summary>
public sealed record KubeletPlugin(string Name, IReadOnlyList<string> Command)
{
    public const string OursName = "ours", ReferenceName = "reference";

    /// <summary>The whole product: simulated GPUs, usage every second, metrics on a loopback port, pod-resources served
    /// by kubeletsim (an empty List), the control API, per-call logs as they are by default.</summary>
    public static KubeletPlugin Ours(string binary) => new(OursName,
    [
        binary, "start", "--simulate", "8", "--kubelet-dir", "{dir}", "--state-dir", "{scratch}/state",
        "--metrics-address", "127.0.0.1:{port}", "--pod-resources-socket", "{pod-resources}",
    ]);

    public static KubeletPlugin Reference(string refplugin) => new(ReferenceName, [refplugin, "-kubelet-dir", "{dir}"]);
}

/// <summary>One figure of the kubelet benchmark, from either driver.</summary>
public sealed record KubeletFigure(string Config, string Driver, string Name, double Value, string Unit);

/// <summary>
/// <c>--kubelet PATH</c>: our daemon and the grpc-go reference plugin side by side, driven as the kubelet drives them.
/// kubeletsim (grpc-go, the kubelet's library) launches each, alternating, and measures start-up, memory, latency and
/// re-registration; then the same latency loops run from Grpc.Net.Client against each, held by <c>kubeletsim -hold</c>.
/// The Go programs are built by bench/grpcgo/build into a temporary folder unless <c>--grpcgo-dir</c> names them.
/// </summary>
public static class KubeletBench
{
    public const string GrpcGoDriver = "grpc-go", GrpcNetDriver = "grpcnet";

    public static async Task<bool> RunAsync(BenchOptions o)
    {
        var binary = Path.GetFullPath(o.KubeletBinary!);
        if (!File.Exists(binary))
        {
            Console.Out.WriteLine($"FAILED: no file at {binary} (publish first: dotnet publish MetaGpu.csproj -c Release -r linux-x64 -o out)");
            return false;
        }
        DirectoryInfo? built = null;
        var grpcgo = o.GrpcGoDir is { } given ? Path.GetFullPath(given) : null;
        try
        {
            if (grpcgo is null)
            {
                built = Directory.CreateTempSubdirectory("mg-grpcgo-");
                grpcgo = built.FullName;
                if (!await BuildAsync(grpcgo))
                    return false;
            }
            var kubeletsim = Path.Combine(grpcgo, "kubeletsim");
            var refplugin = Path.Combine(grpcgo, "refplugin");
            foreach (var program in new[] { kubeletsim, refplugin })
            {
                if (!File.Exists(program))
                {
                    Console.Out.WriteLine($"FAILED: no {Path.GetFileName(program)} in {grpcgo} (build it: bench/grpcgo/build DIR)");
                    return false;
                }
            }
            KubeletPlugin[] plugins = [KubeletPlugin.Ours(binary), KubeletPlugin.Reference(refplugin)];
            var figures = new List<KubeletFigure>();
            var ok = await RunGrpcGoAsync(kubeletsim, plugins, o, figures);
            if (o.GrpcNetLaunches > 0)
                ok &= await KubeletGrpcNetDriver.RunAsync(kubeletsim, plugins, o, figures);
            KubeletReport.Print(figures);
            return ok;
        }
        finally
        {
            built?.Delete(recursive: true);
        }
    }

    /// <summary>bench/grpcgo/build into <paramref name="output"/>; the script installs Debian's Go packages as root.</summary>
    static async Task<bool> BuildAsync(string output)
    {
        var script = FindBuildScript();
        if (script is null)
        {
            Console.Out.WriteLine("FAILED: bench/grpcgo/build not found above this program or the current folder (or pass --grpcgo-dir)");
            return false;
        }
        Console.Out.WriteLine($"building kubeletsim and refplugin ({Path.GetRelativePath(Directory.GetCurrentDirectory(), script)}) ...");
        var start = Stopwatch.GetTimestamp();
        var exit = await RunEchoingAsync("bash", [script, output], _ => { });
        Console.Out.WriteLine($"  built in {Stopwatch.GetElapsedTime(start).TotalSeconds:0.0} s");
        if (exit != 0)
            Console.Out.WriteLine($"FAILED: bench/grpcgo/build exited with {exit}");
        return exit == 0;
    }

    static string? FindBuildScript()
    {
        foreach (var start in new[] { AppContext.BaseDirectory, Directory.GetCurrentDirectory() })
        {
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                var candidate = Path.Combine(dir.FullName, "bench", "grpcgo", "build");
                if (File.Exists(candidate))
                    return candidate;
            }
        }
        return null;
    }

    /// <summary>kubeletsim over both plugins, its output passed through; its BENCH lines become figures.</summary>
    static async Task<bool> RunGrpcGoAsync(string kubeletsim, KubeletPlugin[] plugins, BenchOptions o, List<KubeletFigure> figures)
    {
        var args = new List<string>
        {
            "-launches", $"{o.Launches}", "-calls", $"{o.KubeletCalls}", "-restarts", $"{o.Restarts}",
            "-phase-timeout", $"{(int)o.PhaseTimeout.TotalSeconds}s",
        };
        foreach (var p in plugins)
        {
            args.Add("--");
            args.Add(p.Name);
            args.AddRange(p.Command);
        }
        Console.Out.WriteLine();
        var exit = await RunEchoingAsync(kubeletsim, args, line =>
        {
            if (line.StartsWith("BENCH ", StringComparison.Ordinal))
                figures.Add(Parse(line["BENCH ".Length..]));
        });
        if (exit != 0)
            Console.Out.WriteLine($"FAILED: kubeletsim exited with {exit}");
        return exit == 0;
    }

    static KubeletFigure Parse(string json)
    {
        using var doc = JsonDocument.Parse(json);
        var r = doc.RootElement;
        return new KubeletFigure(r.GetProperty("config").GetString()!, r.GetProperty("driver").GetString()!,
            r.GetProperty("figure").GetString()!, r.GetProperty("value").GetDouble(), r.GetProperty("unit").GetString()!);
    }

    /// <summary>
    /// Stops kubeletsim if this process exits while it runs, e.g. on the watchdog's <see cref="Environment.Exit"/>:
    /// SIGTERM (kubeletsim then stops its plugin and removes its folders), and past 6 s a kill of it and its children.
    /// Disposing the result forgets it.
    /// </summary>
    public static IDisposable KillOnExit(Process process)
    {
        EventHandler handler = (_, _) =>
        {
            try
            {
                if (process.HasExited)
                    return;
                using (var kill = Process.Start("kill", ["-TERM", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
                    kill.WaitForExit(1000);
                if (!process.WaitForExit(6000))
                    process.Kill(entireProcessTree: true);
            }
            catch (Exception e) when (e is InvalidOperationException or System.ComponentModel.Win32Exception)
            {
                // Exited already, or no kill(1): nothing more to do on the way out.
            }
        };
        AppDomain.CurrentDomain.ProcessExit += handler;
        return new Forget(() => AppDomain.CurrentDomain.ProcessExit -= handler);
    }

    sealed class Forget(Action action) : IDisposable
    {
        public void Dispose() => action();
    }

    /// <summary>Runs a program with its output and errors passed through line by line, each line also to <paramref name="line"/>.</summary>
    static async Task<int> RunEchoingAsync(string program, IEnumerable<string> args, Action<string> line)
    {
        var info = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args)
            info.ArgumentList.Add(a);
        using var process = Process.Start(info)!;
        using var _ = KillOnExit(process);
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null)
                return;
            Console.Out.WriteLine(e.Data);
            line(e.Data);
        };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
                Console.Error.WriteLine(e.Data);
        };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        await process.WaitForExitAsync();
        return process.ExitCode;
    }
}
