using System.Diagnostics;
using System.Text.Json;

namespace MetaGpu.Bench;

/// <summary>
/// One plugin launched and registered by <c>kubeletsim -hold</c> (the grpc-go kubelet keeps its ListAndWatch open), for
/// another client to call on the plugin's socket; disposing closes kubeletsim's standard input, which stops both.
/// </summary>
sealed class KubeletHeldPlugin : IAsyncDisposable
{
    private readonly Process _process;
    private readonly IDisposable _killOnExit;

    private KubeletHeldPlugin(Process process, IDisposable killOnExit, string socket, int pid, double listedMs)
    {
        _process = process;
        _killOnExit = killOnExit;
        Socket = socket;
        Pid = pid;
        LaunchToListedMs = listedMs;
    }

    public string Socket { get; }
    public int Pid { get; }
    public double LaunchToListedMs { get; }

    public static async Task<KubeletHeldPlugin> StartAsync(string kubeletsim, KubeletPlugin plugin, TimeSpan timeout)
    {
        var info = new ProcessStartInfo(kubeletsim) { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in (string[])["-hold", "-phase-timeout", $"{(int)timeout.TotalSeconds}s", "--", plugin.Name, .. plugin.Command])
            info.ArgumentList.Add(a);
        var process = Process.Start(info)!;
        var killOnExit = KubeletBench.KillOnExit(process);
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
                Console.Error.WriteLine(e.Data);
        };
        process.BeginErrorReadLine();
        try
        {
            using var cts = new CancellationTokenSource(timeout + TimeSpan.FromSeconds(5));
            while (await process.StandardOutput.ReadLineAsync(cts.Token) is { } line)
            {
                if (!line.StartsWith("READY ", StringComparison.Ordinal))
                    continue;
                using var doc = JsonDocument.Parse(line["READY ".Length..]);
                var r = doc.RootElement;
                // Whatever else it prints goes on being read, so that kubeletsim never blocks on a full pipe.
                _ = process.StandardOutput.BaseStream.CopyToAsync(Stream.Null);
                return new KubeletHeldPlugin(process, killOnExit, r.GetProperty("socket").GetString()!, r.GetProperty("pid").GetInt32(),
                    r.GetProperty("launch_to_listed_ms").GetDouble());
            }
            await process.WaitForExitAsync(cts.Token);
            throw new InvalidOperationException($"kubeletsim -hold {plugin.Name} exited with {process.ExitCode} before the plugin was ready");
        }
        catch
        {
            await StopAsync(process);
            killOnExit.Dispose();
            throw;
        }
    }

    /// <summary>Whether kubeletsim still saw the plugin's ListAndWatch open when it was let go.</summary>
    public bool StreamStayedOpen { get; private set; }

    public async ValueTask DisposeAsync()
    {
        StreamStayedOpen = await StopAsync(_process) == 0;
        _killOnExit.Dispose();
    }

    private static async Task<int> StopAsync(Process process)
    {
        try
        {
            process.StandardInput.Close();
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(15));
            await process.WaitForExitAsync(cts.Token);
            return process.ExitCode;
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
            return -1;
        }
        finally
        {
            process.Dispose();
        }
    }
}
