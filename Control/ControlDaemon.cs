using MetaGpu.Control.Identity;
using MetaGpu.Control.Service;
using MetaGpu.DevicePlugin;
using MetaGpu.DevicePlugin.Allocations;
using MetaGpu.Primitives;
using MetaGpu.Rpc.Grpc;
using MetaGpu.Usage.Enforcement;
using MetaGpu.Usage.Proc;
using MetaGpu.Usage.Workload;
using Microsoft.Extensions.Logging;

namespace MetaGpu.Control;

/// <summary>What <c>metagpu start</c> was told about mgctl (flag <c>--mgctl-path</c>).</summary>
public sealed record ControlOptions
{
    /// <summary>Where containers see mgctl; null: the binary is not mounted (the socket still is).</summary>
    public string? ContainerBinary { get; init; } = MgctlInstall.DefaultContainerBinary;

    /// <summary>The executable installed as mgctl: this process's own (null where it is not the native binary, e.g. under a test host).</summary>
    public string? Executable { get; init; } = Environment.ProcessPath;

    public string ProcRoot { get; init; } = "/proc";

    /// <summary>
    /// When to install mgctl: once this task is done (the first registration with the kubelet, in <c>metagpu
    /// start</c>), or after <see cref="InstallAtTheLatestAfter"/>, whichever is first. Null: at once.
    /// </summary>
    public Task? InstallAfter { get; init; }

    public TimeSpan InstallAtTheLatestAfter { get; init; } = TimeSpan.FromSeconds(1);
}

/// <summary>
/// The control side of the daemon: installs mgctl, serves the control API on <c>&lt;state&gt;/run/control.sock</c>
/// (mode 0666: who may do what is the kernel's word about the caller, not file modes, and notebooks often run as a
/// user other than root), and publishes what Allocate adds to each container: mgctl read-only at
/// <see cref="ControlOptions.ContainerBinary"/>, the run directory read-only at /run/metagpu, and METAGPU_CTL_SOCKET.
/// </summary>
public sealed class ControlDaemon : IAsyncDisposable
{
    private readonly GrpcServer _server;

    public string SocketPath { get; }

    /// <summary>Cancels an installation that has not started when the daemon stops.</summary>
    private readonly CancellationTokenSource _stopping = new();

    private ControlDaemon(GrpcServer server, string socketPath)
    {
        _server = server;
        SocketPath = socketPath;
    }

    /// <summary>Starts serving; the caller disposes it. Throws with a message for the operator when the socket cannot be served.</summary>
    public static ControlDaemon Start(PluginNode node, VersionedSnapshot<WorkloadView> view, ContainerAdditions additions, ControlOptions options, ILoggerFactory logs)
    {
        var log = logs.CreateLogger("metagpu.control");
        var stateDir = node.Allocations.StateDirectory;
        MgctlInstall.EnsureRunDirectory(stateDir);

        var proc = new ProcFs(options.ProcRoot);
        var resolver = new CallerResolver(proc, proc.LocateOwnStateDir(stateDir), OwnUid());
        var answers = new ScopedAnswers(node.Allocations.TryRead, (pid, started) => proc.StartTime(pid) == started ? proc.NsPids(pid) : null);
        var signaller = new PidfdSignaller(options.ProcRoot);
        var service = new ControlService(view, resolver, answers, signaller.Signal, NodeName(), Program.Version, log);
        var server = service.AddTo(new GrpcServer(new GrpcServerOptions { Logger = log, ReadPeerCredentials = true }));
        var socket = MgctlInstall.SocketPath(stateDir);
        try
        {
            server.ListenUnix(socket);
            if (Libc.Chmod(socket, 0b110_110_110) != 0)
                throw new IOException($"cannot make {socket} connectable for every user (chmod 0666): {Errno.Describe(Libc.LastError)}");
        }
        catch
        {
            _ = server.DisposeAsync().AsTask();
            throw;
        }

        var runDirectory = new ContainerMount(MgctlInstall.ContainerRunDirectory, MgctlInstall.RunDirectory(stateDir));
        List<KeyValuePair<string, string>> env = [new(MgctlInstall.SocketVariable, MgctlInstall.ContainerSocket)];
        additions.Publish(new ContainerAdditions.Snapshot([runDirectory], env));
        log.LogInformation("control API on {Socket}; containers get {Socket2}", socket, MgctlInstall.ContainerSocket);
        var daemon = new ControlDaemon(server, socket);
        if (options.ContainerBinary is { } containerBinary && options.Executable is { } executable)
        {
            daemon.Installed = InstallWhenDueAsync(options, () => InstallMgctl(stateDir, executable, containerBinary, runDirectory, env, additions, log), daemon._stopping.Token);
            additions.Pending = daemon.Installed;
        }
        return daemon;
    }

    /// <summary>
    /// Done when mgctl is installed (or could not be) and its mount is published. Installing copies the executable
    /// (several MB, with an fsync) or, after a restart, compares it with the installed copy: milliseconds of CPU and
    /// disk that must not delay registering with the kubelet, so it starts after the first registration
    /// (<see cref="ControlOptions.InstallAfter"/>). An Allocate that comes before it is done waits for it
    /// (<see cref="ContainerAdditions.Pending"/>); when mgctl cannot be installed, containers get the control socket
    /// and no mgctl, never a mount whose source is missing.
    /// </summary>
    public Task Installed { get; private set; } = Task.CompletedTask;

    /// <summary>Installs once <see cref="ControlOptions.InstallAfter"/> is done or its time is up, on the thread pool.</summary>
    private static async Task InstallWhenDueAsync(ControlOptions options, Action install, CancellationToken stopping)
    {
        await Deferral.UntilAsync(options.InstallAfter, options.InstallAtTheLatestAfter, stopping).ConfigureAwait(false);
        // A daemon that stopped first installs nothing: its state directory may be on its way out (the demo's is).
        if (!stopping.IsCancellationRequested)
            await Task.Run(install, CancellationToken.None).ConfigureAwait(false);
    }

    private static void InstallMgctl(string stateDir, string executable, string containerBinary, ContainerMount runDirectory, List<KeyValuePair<string, string>> env,
        ContainerAdditions additions, ILogger log)
    {
        try
        {
            var installed = MgctlInstall.Install(stateDir, executable);
            additions.Publish(new ContainerAdditions.Snapshot([new ContainerMount(containerBinary, installed), runDirectory], env));
            log.LogInformation("mgctl installed as {Path}; containers get it at {Mgctl}", installed, containerBinary);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            log.LogWarning("mgctl is not installed, so containers get no mgctl (the control socket still serves): {Error}", e.Message);
        }
    }

    /// <summary>Stops serving; an installation not yet started never starts, one under way is waited for.</summary>
    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        await Installed.ConfigureAwait(false);
        _stopping.Dispose();
        await _server.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>NODE_NAME (the downward API's spec.nodeName in static.yaml), else the host name.</summary>
    private static string NodeName() => Environment.GetEnvironmentVariable("NODE_NAME") is { Length: > 0 } name ? name : Environment.MachineName;

    private static uint OwnUid() => Libc.GetEuid();
}
