using System.Diagnostics;
using MetaGpu.Proto.DevicePlugin.V1Beta1;
using MetaGpu.Tests.Support;

namespace MetaGpu.Tests.Usage.Containers;

/// <summary>
/// Runs containers with runc, each test fixture on a state directory of its own (<c>runc --root</c>), so tests never
/// see nor collide with other runc state on the machine. Use it as an xunit class or collection fixture: disposing
/// it stops and deletes every container it still has; so does the test process's exit. A fixture left behind by a
/// test process that was killed is swept by the next one (its containers deleted, its folder removed).
/// </summary>
public sealed class RuncHost : IDisposable
{
    private const string Prefix = "mg-runc-";

    /// <summary>The file in a fixture's folder that lists its containers' pod cgroup paths, one a line, for the sweep.</summary>
    internal const string PodsFile = "pods";
    private static readonly Lock HostsGate = new();
    private static readonly List<RuncHost> Hosts = [];
    private static bool _exitHooked;

    private readonly Lock _gate = new();
    private readonly List<RuncContainer> _containers = [];
    private bool _disposed;

    public RuncHost()
    {
        Runc = HostTools.Require("runc", "runc");
        SweepStale(Runc);
        Directory = System.IO.Directory.CreateTempSubdirectory($"{Prefix}{Environment.ProcessId}-").FullName;
        StateRoot = Path.Combine(Directory, "state");
        System.IO.Directory.CreateDirectory(StateRoot);
        lock (HostsGate)
        {
            Hosts.Add(this);
            if (!_exitHooked)
            {
                AppDomain.CurrentDomain.ProcessExit += (_, _) =>
                {
                    RuncHost[] all;
                    lock (HostsGate)
                        all = [.. Hosts];
                    foreach (var h in all)
                        h.Dispose();
                };
                _exitHooked = true;
            }
        }
    }

    /// <summary>The runc program.</summary>
    public string Runc { get; }

    /// <summary>This fixture's folder: bundles and the runc state.</summary>
    public string Directory { get; }

    /// <summary>The <c>runc --root</c> of this fixture.</summary>
    public string StateRoot { get; }

    /// <summary>
    /// Starts a container from what Allocate answered for it, running <paramref name="args"/> (a
    /// <see cref="WorkloadProgram"/> mode), in <paramref name="cgroup"/> (a new pod when null). Returns once runc has
    /// started the process; wait for its "ready" with <see cref="RuncContainer.WaitForOutput"/>.
    /// </summary>
    public RuncContainer Start(ContainerAllocateResponse allocation, IReadOnlyList<string> args, KubeletCgroup? cgroup = null, uint uid = 0, uint gid = 0) =>
        Start(OciBundle.Create(Directory, allocation, args, cgroup, uid, gid));

    /// <summary>Starts a container from a prepared bundle (the container owns it from now on). Its runc ID is its container ID.</summary>
    public RuncContainer Start(OciBundle bundle)
    {
        lock (_gate)
            ObjectDisposedException.ThrowIf(_disposed, this);
        File.AppendAllText(Path.Combine(Directory, PodsFile), bundle.Cgroup.PodPath + "\n");
        var container = RuncContainer.Start(this, bundle);
        lock (_gate)
            _containers.Add(container);
        return container;
    }

    /// <summary>The IDs runc knows in this fixture's state directory (<c>runc --root R list -q</c>).</summary>
    public IReadOnlyList<string> List()
    {
        var (code, stdout, stderr) = Invoke(Runc, ["--root", StateRoot, "list", "-q"]);
        if (code != 0)
            throw new InvalidOperationException($"runc list failed ({code}): {stderr}");
        return stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
    }

    internal (int Code, string Stdout, string Stderr) RuncCommand(params string[] args) => Invoke(Runc, ["--root", StateRoot, .. args]);

    internal void Forget(RuncContainer container)
    {
        lock (_gate)
            _containers.Remove(container);
    }

    public void Dispose()
    {
        RuncContainer[] left;
        lock (_gate)
        {
            if (_disposed)
                return;
            _disposed = true;
            left = [.. _containers];
        }
        foreach (var c in left)
            c.Dispose();
        // Anything runc still knows here (a start that failed half-way): delete it too.
        foreach (var id in SafeList())
            RuncCommand("delete", "-f", id);
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
        lock (HostsGate)
            Hosts.Remove(this);
    }

    private IReadOnlyList<string> SafeList()
    {
        try
        {
            return List();
        }
        catch (InvalidOperationException)
        {
            return [];
        }
    }

    /// <summary>Runs a program to its end (at most a minute, then it is killed).</summary>
    internal static (int Code, string Stdout, string Stderr) Invoke(string file, IReadOnlyList<string> args, IReadOnlyDictionary<string, string>? env = null)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        foreach (var a in args)
            psi.ArgumentList.Add(a);
        foreach (var (k, v) in env ?? new Dictionary<string, string>())
            psi.Environment[k] = v;
        using var p = Process.Start(psi) ?? throw new InvalidOperationException($"{file} did not start");
        p.StandardInput.Close();
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(TimeSpan.FromMinutes(1)))
        {
            p.Kill(entireProcessTree: true);
            p.WaitForExit();
            return (-1, stdout.Result, $"{file} {string.Join(' ', args)} ran over a minute and was killed. {stderr.Result}");
        }
        return (p.ExitCode, stdout.Result, stderr.Result.Trim());
    }

    // Fixture folders of test processes that are gone (killed before they could clean up).
    private static void SweepStale(string runc)
    {
        foreach (var dir in System.IO.Directory.EnumerateDirectories(Path.GetTempPath(), Prefix + "*"))
        {
            var rest = Path.GetFileName(dir)[Prefix.Length..];
            var dash = rest.IndexOf('-');
            if (dash <= 0 || !int.TryParse(rest.AsSpan(0, dash), out var pid) || pid == Environment.ProcessId || System.IO.Directory.Exists($"/proc/{pid}"))
                continue;
            var state = Path.Combine(dir, "state");
            if (System.IO.Directory.Exists(state))
            {
                var (code, ids, _) = Invoke(runc, ["--root", state, "list", "-q"]);
                if (code == 0)
                    foreach (var id in ids.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
                        Invoke(runc, ["--root", state, "delete", "-f", id]);
            }
            // runc deleted the containers' own cgroups; their pods' directories are left (rmdir removes only empty ones).
            var pods = Path.Combine(dir, PodsFile);
            if (File.Exists(pods))
                foreach (var pod in File.ReadAllLines(pods).Where(l => l.StartsWith(KubeletCgroup.Parents[^1] + "/pod", StringComparison.Ordinal)).Distinct())
                    foreach (var hierarchy in KubepodsCgroups.Hierarchies())
                        KubepodsCgroups.Remove(hierarchy + pod);
            try
            {
                System.IO.Directory.Delete(dir, recursive: true);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
            }
        }
    }
}
