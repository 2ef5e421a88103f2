using System.Diagnostics;

namespace MetaGpu.Tests.Support;

/// <summary>
/// Host programs the tests use as real peers (runc, promtool). A fresh machine has only the SDK, gcc and git, so a
/// missing program is installed with apt-get when the tests run as root (as <c>.ci/run</c> does); otherwise the test
/// fails with the command that installs it.
/// </summary>
public static class HostTools
{
    private static readonly Lock Gate = new();
    private static readonly Dictionary<string, string> Found = new(StringComparer.Ordinal);

    /// <summary>The full path of <paramref name="command"/>, installing Debian's <paramref name="package"/> when missing.</summary>
    public static string Require(string command, string package)
    {
        lock (Gate)
        {
            if (Found.TryGetValue(command, out var known))
                return known;
            var path = Locate(command);
            if (path is null && Environment.UserName == "root" && Locate("apt-get") is not null)
            {
                // The package lists may be missing or stale on a fresh machine: refresh once if the first try fails.
                if (!AptInstall(package))
                {
                    Run("apt-get", "update -qq");
                    AptInstall(package);
                }
                path = Locate(command);
            }
            if (path is null)
                throw new InvalidOperationException(
                    $"{command} is needed by this test and is not installed: apt-get install {package} (.ci/run installs it when it runs as root)");
            Found[command] = path;
            return path;
        }
    }

    private static bool AptInstall(string package) => Run("apt-get", $"install -y -qq --no-install-recommends {package}") == 0;

    private static string? Locate(string command)
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Append("/usr/sbin").Append("/usr/bin").Append("/sbin"))
        {
            if (dir.Length == 0)
                continue;
            var candidate = Path.Combine(dir, command);
            if (File.Exists(candidate))
                return candidate;
        }
        return null;
    }

    private static int Run(string file, string arguments)
    {
        var psi = new ProcessStartInfo(file, arguments) { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.Environment["DEBIAN_FRONTEND"] = "noninteractive";
        using var p = Process.Start(psi)!;
        p.StandardOutput.ReadToEndAsync();
        p.StandardError.ReadToEndAsync();
        p.WaitForExit();
        return p.ExitCode;
    }
}
