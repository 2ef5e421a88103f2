using System.Globalization;

namespace MetaGpu.Bench;

/// <summary>
/// What the daemon holds at one moment: resident memory (all of it, and its anonymous part: the heap, not the mapped
/// binary), open file descriptors and threads; and, to say which when they change, what the descriptors are (by kind:
/// socket, pipe, pidfd, a file's name) and the threads' names.
/// </summary>
readonly record struct SoakFootprint(long RssKiB, long RssAnonKiB, int Fds, int Threads, string FdKinds, string ThreadNames)
{
    /// <summary>Reads <c>/proc/PID/status</c> (VmRSS, RssAnon, Threads), <c>/proc/PID/fd</c> and <c>/proc/PID/task/*/comm</c>; null once the process is gone.</summary>
    public static SoakFootprint? Read(int pid)
    {
        try
        {
            long rss = -1, anon = -1;
            var threads = -1;
            foreach (var line in File.ReadLines($"/proc/{pid}/status"))
            {
                if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                    rss = Number(line);
                else if (line.StartsWith("RssAnon:", StringComparison.Ordinal))
                    anon = Number(line);
                else if (line.StartsWith("Threads:", StringComparison.Ordinal))
                    threads = (int)Number(line);
            }
            var fds = Directory.GetFileSystemEntries($"/proc/{pid}/fd");
            var kinds = Tally(fds.Select(Kind));
            var names = Tally(Directory.GetDirectories($"/proc/{pid}/task").Select(ThreadName));
            return rss < 0 || anon < 0 || threads < 0 ? null : new SoakFootprint(rss, anon, fds.Length, threads, kinds, names);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary><c>socket:[123]</c> as <c>socket</c>, <c>anon_inode:[pidfd]</c> as <c>pidfd</c>, a path as its file name.</summary>
    private static string Kind(string fd)
    {
        string target;
        try
        {
            target = new FileInfo(fd).LinkTarget ?? "?";
        }
        catch (IOException)
        {
            return "closed";
        }
        if (target.StartsWith("anon_inode:", StringComparison.Ordinal))
            return target["anon_inode:".Length..].Trim('[', ']');
        var bracket = target.IndexOf(":[", StringComparison.Ordinal);
        return bracket > 0 ? target[..bracket] : Path.GetFileName(target);
    }

    private static string ThreadName(string task)
    {
        try
        {
            return File.ReadAllText(Path.Combine(task, "comm")).Trim();
        }
        catch (IOException)
        {
            return "gone";
        }
    }

    /// <summary>"pipe 7, socket 9, …": each distinct value and how often, by name.</summary>
    private static string Tally(IEnumerable<string> values) =>
        string.Join(", ", values.GroupBy(v => v, StringComparer.Ordinal).OrderBy(g => g.Key, StringComparer.Ordinal)
            .Select(g => string.Create(CultureInfo.InvariantCulture, $"{g.Key} {g.Count()}")));

    private static long Number(string line) =>
        long.Parse(line.AsSpan(line.IndexOf(':') + 1).Trim().ToString().Split(' ')[0], CultureInfo.InvariantCulture);
}
