using System.Diagnostics;

namespace MetaGpu.Tests.Support;

/// <summary>Prometheus's own checker: <c>promtool check metrics</c> (Debian package prometheus) on an exposition.</summary>
public static class Promtool
{
    /// <summary>promtool's exit code and everything it said about <paramref name="exposition"/>.</summary>
    public static (int Exit, string Output) CheckMetrics(ReadOnlySpan<byte> exposition)
    {
        var psi = new ProcessStartInfo(HostTools.Require("promtool", "prometheus"), "check metrics")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        p.StandardInput.BaseStream.Write(exposition);
        p.StandardInput.Close();
        Assert.True(p.WaitForExit(60_000), "promtool did not finish");
        return (p.ExitCode, stdout.Result + stderr.Result);
    }
}
