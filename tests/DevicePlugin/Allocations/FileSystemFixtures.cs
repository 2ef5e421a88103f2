using System.Diagnostics;
using System.Globalization;

namespace MetaGpu.Tests.DevicePlugin.Allocations;

/// <summary>What the tests need of the file system beyond System.IO: inode numbers and read-only bind mounts.</summary>
public static class FileSystemFixtures
{
    /// <summary>The inode number and the mtime to the nanosecond, from coreutils' <c>stat -c '%i %y'</c>.</summary>
    public static (ulong Inode, string MTime) Identity(string path)
    {
        var output = Run("stat", "-c", "%i %y", path).Trim();
        var space = output.IndexOf(' ');
        return (ulong.Parse(output[..space], CultureInfo.InvariantCulture), output[(space + 1)..]);
    }

    /// <summary>
    /// Makes <paramref name="directory"/> read-only for everyone, root included (a bind mount of itself, remounted
    /// read-only): what a hostPath volume mounted read-only looks like. Needs root with CAP_SYS_ADMIN, as the runc tests do.
    /// </summary>
    public static IDisposable ReadOnly(string directory)
    {
        Run("mount", "--bind", directory, directory);
        try
        {
            Run("mount", "-o", "remount,bind,ro", directory);
        }
        catch
        {
            Run("umount", directory);
            throw;
        }
        return new Unmount(directory);
    }

    private sealed class Unmount(string directory) : IDisposable
    {
        public void Dispose() => Run("umount", directory);
    }

    private static string Run(string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args)
            psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEnd();
        var stderr = p.StandardError.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0)
            throw new InvalidOperationException($"{file} {string.Join(' ', args)} failed ({p.ExitCode}): {stderr.Trim()}" +
                (file == "mount" ? " (this test needs root with CAP_SYS_ADMIN, as the runc tests do)" : ""));
        return stdout;
    }
}
