using System.Globalization;
using System.Text.Json;

namespace MetaGpu.Tests.Usage.Containers;

/// <summary>
/// One container that runc runs detached (<c>runc run -d</c>): its process is the kernel's, with its own pid and mount
/// namespaces and the kubelet's cgroup layout, so <c>/proc/&lt;HostPid&gt;/…</c> is what the daemon would read on a node.
/// Its stdout and stderr go to files in the bundle. <see cref="Dispose"/> kills it, deletes it, and removes its
/// bundle and the cgroup directories it made, also when its process already died.
/// </summary>
public sealed class RuncContainer : IDisposable
{
    private const int MaxOutput = 1 << 20;
    private readonly RuncHost _host;
    private bool _disposed;

    private RuncContainer(RuncHost host, OciBundle bundle, int hostPid)
    {
        _host = host;
        Bundle = bundle;
        HostPid = hostPid;
    }

    /// <summary>runc's ID of the container: its 64-hex container ID, as containerd names its runc containers.</summary>
    public string Id => Bundle.Cgroup.ContainerId;

    public OciBundle Bundle { get; }

    public KubeletCgroup Cgroup => Bundle.Cgroup;

    /// <summary>The container's first process, as the host sees it (runc's <c>--pid-file</c>).</summary>
    public int HostPid { get; }

    public string StdoutPath => Path.Combine(Bundle.Directory, "stdout");

    public string StderrPath => Path.Combine(Bundle.Directory, "stderr");

    internal static RuncContainer Start(RuncHost host, OciBundle bundle)
    {
        var pidFile = Path.Combine(bundle.Directory, "pid");
        var log = Path.Combine(bundle.Directory, "runc.log");
        var id = bundle.Cgroup.ContainerId;
        KubepodsCgroups.Enter(bundle.Cgroup);
        // The container inherits runc's stdio; a pipe would be held open by the container for its whole life, so
        // they are files, opened by a shell that then becomes runc.
        var (code, _, stderr) = RuncHost.Invoke("/bin/sh",
            ["-c", "exec \"$0\" \"$@\" >\"$MG_STDOUT\" 2>\"$MG_STDERR\" </dev/null",
             host.Runc, "--root", host.StateRoot, "--log", log, "run", "-d", "--pid-file", pidFile, "--bundle", bundle.Directory, id],
            new Dictionary<string, string> { ["MG_STDOUT"] = Path.Combine(bundle.Directory, "stdout"), ["MG_STDERR"] = Path.Combine(bundle.Directory, "stderr") });
        if (code == 0 && File.Exists(pidFile) && int.TryParse(File.ReadAllText(pidFile).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var pid))
            return new RuncContainer(host, bundle, pid);

        var why = string.Join(" | ", new[] { stderr, Tail(Path.Combine(bundle.Directory, "stderr")), Tail(log) }.Where(t => t.Length > 0));
        host.RuncCommand("delete", "-f", id);
        KubepodsCgroups.Leave(bundle.Cgroup);
        bundle.Dispose();
        throw new InvalidOperationException($"runc run {id[..12]} failed (exit {code}): {why}");
    }

    /// <summary>What the container wrote to stdout so far.</summary>
    public string Output => Read(StdoutPath);

    /// <summary>What the container (and runc, when it failed) wrote to stderr so far.</summary>
    public string Errors => Read(StderrPath);

    /// <summary>Whether the first process still runs (exists and is not a zombie).</summary>
    public bool IsRunning => IsAlive(HostPid);

    /// <summary>Whether the host process <paramref name="hostPid"/> exists and is not a zombie.</summary>
    public static bool IsAlive(int hostPid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{hostPid}/stat");
            var close = stat.LastIndexOf(')');
            return close > 0 && close + 2 < stat.Length && stat[close + 2] is not ('Z' or 'X');
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>
    /// Polls stdout until it holds <paramref name="text"/> and returns the whole output; fails at once, with the
    /// output and errors, when the process ends first, or after <paramref name="timeout"/> (default 30 s).
    /// </summary>
    public string WaitForOutput(string text, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(30));
        while (true)
        {
            var output = Output;
            if (output.Contains(text, StringComparison.Ordinal))
                return output;
            if (!IsRunning)
            {
                // It may have printed the text and exited between the two reads.
                output = Output;
                if (output.Contains(text, StringComparison.Ordinal))
                    return output;
                throw new InvalidOperationException($"container {Id[..12]} ended without printing \"{text}\". stdout: {output} stderr: {Errors}");
            }
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"container {Id[..12]} did not print \"{text}\" within {timeout ?? TimeSpan.FromSeconds(30)}. stdout: {output} stderr: {Errors}");
            Thread.Sleep(20);
        }
    }

    /// <summary>Every process of the container, as host pids (<c>runc ps --format json</c>).</summary>
    public IReadOnlyList<int> HostPids()
    {
        var (code, stdout, stderr) = _host.RuncCommand("ps", "--format", "json", Id);
        if (code != 0)
            throw new InvalidOperationException($"runc ps {Id[..12]} failed ({code}): {stderr}");
        using var doc = JsonDocument.Parse(stdout.Trim() is { Length: > 0 } s && s != "null" ? s : "[]");
        return doc.RootElement.EnumerateArray().Select(e => e.GetInt32()).Order().ToArray();
    }

    /// <summary>The text of <c>/proc/&lt;HostPid&gt;/<paramref name="file"/></c> (e.g. "mountinfo", "cgroup", "status").</summary>
    public string ReadProc(string file) => File.ReadAllText($"/proc/{HostPid}/{file}");

    /// <summary>
    /// Runs <paramref name="args"/> in the container (<c>runc exec</c>: its namespaces, cgroup, user and environment, as
    /// <c>kubectl exec</c> does) to the end, at most a minute.
    /// </summary>
    public (int Code, string Stdout, string Stderr) Exec(params string[] args) => _host.RuncCommand(["exec", Id, .. args]);

    /// <summary>As <see cref="Exec"/>, as <paramref name="uid"/>:<paramref name="gid"/> (a notebook's non-root user).</summary>
    public (int Code, string Stdout, string Stderr) ExecAs(uint uid, uint gid, params string[] args) =>
        _host.RuncCommand(["exec", "--user", $"{uid}:{gid}", Id, .. args]);

    /// <summary>Starts <paramref name="args"/> in the container (<c>runc exec</c>) and returns at once; the caller reads and ends it.</summary>
    public System.Diagnostics.Process StartExec(params string[] args)
    {
        var psi = new System.Diagnostics.ProcessStartInfo(_host.Runc) { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        foreach (var a in new[] { "--root", _host.StateRoot, "exec", Id }.Concat(args))
            psi.ArgumentList.Add(a);
        return System.Diagnostics.Process.Start(psi) ?? throw new InvalidOperationException("runc exec did not start");
    }

    /// <summary>Sends <paramref name="signal"/> to the first process (<c>runc kill</c>); a dead container is no error.</summary>
    public void Kill(string signal = "KILL") => _host.RuncCommand("kill", Id, signal);

    /// <summary>Waits until the first process is gone; false after <paramref name="timeout"/>.</summary>
    public bool WaitForExit(TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (IsRunning)
        {
            if (DateTime.UtcNow > deadline)
                return false;
            Thread.Sleep(20);
        }
        return true;
    }

    public void Dispose()
    {
        if (_disposed)
            return;
        _disposed = true;
        Kill();
        WaitForExit(TimeSpan.FromSeconds(10));
        _host.RuncCommand("delete", "-f", Id);
        KubepodsCgroups.Leave(Cgroup);
        Bundle.Dispose();
        _host.Forget(this);
    }

    private static string Read(string path)
    {
        try
        {
            using var f = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            var buffer = new byte[(int)Math.Min(f.Length, MaxOutput)];
            var n = f.ReadAtLeast(buffer, buffer.Length, throwOnEndOfStream: false);
            return System.Text.Encoding.UTF8.GetString(buffer, 0, n);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return "";
        }
    }

    private static string Tail(string path)
    {
        var text = Read(path).Trim();
        return text.Length <= 2000 ? text : text[^2000..];
    }
}
