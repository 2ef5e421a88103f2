using System.Globalization;

namespace MetaGpu.Fuzz;

/// <summary>
/// This process's folder for sockets and files, <c>$TMPDIR/metagpu-fuzz-PID</c>. The driver kills the process
/// outright after a timeout or a crash, so nothing runs at exit: each new process removes the folders of processes
/// that are gone instead.
/// </summary>
internal static class ScratchDirectory
{
    private const string Prefix = "metagpu-fuzz-";

    private static readonly Lazy<string> Own = new(Create);

    public static string Path => Own.Value;

    private static string Create()
    {
        var temp = System.IO.Path.GetTempPath();
        foreach (var stale in Directory.EnumerateDirectories(temp, Prefix + "*"))
        {
            var pid = System.IO.Path.GetFileName(stale)[Prefix.Length..];
            if (int.TryParse(pid, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && !Directory.Exists($"/proc/{n}"))
            {
                try
                {
                    Directory.Delete(stale, recursive: true);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                }
            }
        }
        var own = System.IO.Path.Combine(temp, Prefix + Environment.ProcessId.ToString(CultureInfo.InvariantCulture));
        Directory.CreateDirectory(own);
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            try
            {
                Directory.Delete(own, recursive: true);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
            }
        };
        return own;
    }
}
