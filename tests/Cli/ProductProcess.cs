using System.Diagnostics;

namespace MetaGpu.Tests.Cli;

/// <summary>Runs the published native binary as a separate process, as an operator runs it.</summary>
public static class ProductProcess
{
    public sealed record Result(int ExitCode, string Stdout, string Stderr);

    public static async Task<Result> RunAsync(IEnumerable<string> args, IDictionary<string, string?>? env = null, TimeSpan? timeout = null)
    {
        var binary = await MetaGpu.Tests.DevicePlugin.PublishedBinary.PathAsync();
        var psi = new ProcessStartInfo(binary) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args)
            psi.ArgumentList.Add(a);
        foreach (var name in new[] { "METAGPU_NVML_LIBRARY", "METAGPU_SIMULATE", "METAGPU_SYSFS_ROOT", "FAKE_NVML_CONFIG" })
            psi.Environment.Remove(name);
        if (env is not null)
        {
            foreach (var (k, v) in env)
                psi.Environment[k] = v;
        }
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(60));
        try
        {
            await p.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"metagpu {string.Join(' ', args)} did not exit in time");
        }
        return new Result(p.ExitCode, await stdout, await stderr);
    }
}
