using Grpc.Core;
using MetaGpu.Control;
using MetaGpu.Control.V1;
using MetaGpu.DevicePlugin;
using MetaGpu.DevicePlugin.Allocations;
using MetaGpu.DevicePlugin.Config;
using MetaGpu.Nvml;
using MetaGpu.Primitives;
using MetaGpu.Rpc.Grpc;
using MetaGpu.Usage.Workload;
using Microsoft.Extensions.Logging.Abstractions;

namespace MetaGpu.Tests.Control;

/// <summary>mgctl's installation in the state directory, and the control socket the daemon serves and Allocate mounts.</summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class ControlDaemonTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("mg-ctl-daemon-");
    private string State => Path.Combine(_dir.FullName, "state");

    public void Dispose() => _dir.Delete(recursive: true);

    private string Executable(string name, int seed)
    {
        var bytes = new byte[300_000];
        new Random(seed).NextBytes(bytes);
        var path = Path.Combine(_dir.FullName, name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    private static ulong Inode(string path) => MetaGpu.Tests.DevicePlugin.Allocations.FileSystemFixtures.Identity(path).Inode;

    [Fact]
    public void InstallCopiesTheExecutableOnceAndReplacesItAtomically()
    {
        var first = Executable("metagpu-1", 1);
        var installed = MgctlInstall.Install(State, first);

        Assert.Equal(MgctlInstall.BinaryPath(State), installed);
        Assert.Equal(File.ReadAllBytes(first), File.ReadAllBytes(installed));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupRead | UnixFileMode.GroupExecute |
                     UnixFileMode.OtherRead | UnixFileMode.OtherExecute, File.GetUnixFileMode(installed));
        Assert.True(Directory.Exists(MgctlInstall.RunDirectory(State)));
        var inode = Inode(installed);

        // The same bytes again (a restart of the same version): left alone.
        MgctlInstall.Install(State, first);
        Assert.Equal(inode, Inode(installed));

        // A new version: a new file under the name, while a container's mount (an open handle here) keeps the old one whole.
        using var held = new FileStream(installed, FileMode.Open, FileAccess.Read);
        var second = Executable("metagpu-2", 2);
        MgctlInstall.Install(State, second);
        Assert.NotEqual(inode, Inode(installed));
        Assert.Equal(File.ReadAllBytes(second), File.ReadAllBytes(installed));
        var old = new byte[held.Length];
        held.ReadExactly(old);
        Assert.Equal(File.ReadAllBytes(first), old);
        Assert.Equal(["mgctl"], Directory.GetFiles(Path.GetDirectoryName(installed)!).Select(Path.GetFileName));
    }

    [Fact]
    public void AnInstallThatCannotBeDoneSaysWhere()
    {
        File.WriteAllText(State, "a file where the state directory should be");
        var e = Assert.Throws<IOException>(() => MgctlInstall.Install(State, Executable("metagpu", 3)));
        Assert.Contains(MgctlInstall.BinaryPath(State), e.Message, StringComparison.Ordinal);
    }

    private PluginNode Node(out NodeStateStore store, out IGpuBackend backend)
    {
        backend = SimulatedBackend.Parse("1");
        var node = MetaGpu.Tests.Support.SimulatedPluginNode.Of(backend, State);
        store = node.State;
        return node;
    }

    [Fact]
    public async Task MgctlIsInstalledOnlyOnceTheFirstRegistrationIsDoneOrAtTheLatestAfterItsTime()
    {
        var node = Node(out _, out var backend);
        using var ownedBackend = backend;
        var view = new VersionedSnapshot<WorkloadView>(WorkloadView.Empty);
        var registered = new TaskCompletionSource();
        var additions = new ContainerAdditions();
        var options = new ControlOptions { Executable = Executable("metagpu", 5), InstallAfter = registered.Task, InstallAtTheLatestAfter = TimeSpan.FromMinutes(5) };
        await using (var daemon = ControlDaemon.Start(node, view, additions, options, NullLoggerFactory.Instance))
        {
            await Task.Delay(300);
            Assert.False(daemon.Installed.IsCompleted);
            Assert.False(additions.Pending.IsCompleted);
            Assert.False(File.Exists(MgctlInstall.BinaryPath(State)));
            registered.SetResult();
            await daemon.Installed.WaitAsync(TimeSpan.FromSeconds(30));
            Assert.True(File.Exists(MgctlInstall.BinaryPath(State)));
            Assert.True(additions.Pending.IsCompleted);
            Assert.Contains(additions.Current.Mounts, m => m.ContainerPath == MgctlInstall.DefaultContainerBinary);
        }

        // Never registered (no kubelet yet): installed all the same once the time is up.
        Directory.Delete(State, recursive: true);
        var late = new ControlOptions { Executable = Executable("metagpu", 6), InstallAfter = new TaskCompletionSource().Task, InstallAtTheLatestAfter = TimeSpan.FromMilliseconds(200) };
        var node2 = Node(out _, out var backend2);
        using var ownedBackend2 = backend2;
        await using var second = ControlDaemon.Start(node2, view, new ContainerAdditions(), late, NullLoggerFactory.Instance);
        await second.Installed.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.True(File.Exists(MgctlInstall.BinaryPath(State)));
    }

    [Fact]
    public async Task ADaemonStoppedBeforeItsInstallationInstallsNothingAfterwards()
    {
        var node = Node(out _, out var backend);
        using var ownedBackend = backend;
        var options = new ControlOptions { Executable = Executable("metagpu", 7), InstallAfter = new TaskCompletionSource().Task, InstallAtTheLatestAfter = TimeSpan.FromMilliseconds(200) };
        var daemon = ControlDaemon.Start(node, new VersionedSnapshot<WorkloadView>(WorkloadView.Empty), new ContainerAdditions(), options, NullLoggerFactory.Instance);
        await daemon.DisposeAsync();
        Assert.True(daemon.Installed.IsCompleted);
        await Task.Delay(500); // past the installation's time
        Assert.False(File.Exists(MgctlInstall.BinaryPath(State)));
    }

    [Fact]
    public async Task AnAllocateDuringTheInstallationWaitsForItAndGetsMgctl()
    {
        var node = Node(out var store, out var backend);
        using var ownedBackend = backend;
        var additions = new ContainerAdditions();
        var publish = new TaskCompletionSource();
        additions.Pending = publish.Task;
        var plugin = new MetaGpuDevicePlugin(ResourceSharing.DefaultResourceName, store, node.Allocations, null, CancellationToken.None, additions);
        var id = DeviceList.Build(store.Current.Plan.Find(ResourceSharing.DefaultResourceName)!, _ => true).Devices[0].ID;
        var request = new MetaGpu.Proto.DevicePlugin.V1Beta1.AllocateRequest { ContainerRequests = { new MetaGpu.Proto.DevicePlugin.V1Beta1.ContainerAllocateRequest { DevicesIds = { id } } } };

        var context = new MetaGpu.Fuzz.FakeCallContext("/v1beta1.DevicePlugin/Allocate", CancellationToken.None);
        var answer = plugin.Allocate(request, context);
        await Task.Delay(300);
        Assert.False(answer.IsCompleted);
        additions.Publish(new ContainerAdditions.Snapshot([new ContainerMount("/usr/local/bin/mgctl", "/state/bin/mgctl")], []));
        publish.SetResult();
        var response = await answer.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.True(answer.IsCompletedSuccessfully);
        Assert.Contains(response.ContainerResponses[0].Mounts, m => m.ContainerPath == "/usr/local/bin/mgctl");

        // Nothing pending: answered at once.
        Assert.True(plugin.Allocate(request, context).IsCompletedSuccessfully);
    }

    /// <summary>
    /// The socket is connectable by every user, Allocate learns what to mount, a second daemon on the same state
    /// directory is refused, and after a restart a client of the same path (a running container) is served again
    /// from the same run directory (the mounted one, never made anew).
    /// </summary>
    [Fact]
    public async Task TheSocketIsServedPublishedAndServedAgainAfterARestart()
    {
        using var backend = SimulatedBackend.Parse("1");
        var inventory = backend.GetInventory();
        var plan = SharePlanBuilder.Build(SharingConfig.Default, inventory);
        var store = new NodeStateStore(new NodeState(1, SharingConfig.Default, inventory, plan, new GpuHealthSnapshot(1, new Dictionary<string, GpuHealth>())));
        var node = new PluginNode(store, new AllocationFiles(State), backend);
        var view = new VersionedSnapshot<WorkloadView>(WorkloadView.Empty);
        var additions = new ContainerAdditions();
        var options = new ControlOptions { Executable = Executable("metagpu", 4), ContainerBinary = "/opt/tools/mgctl" };

        var daemon = ControlDaemon.Start(node, view, additions, options, NullLoggerFactory.Instance);
        // The socket and its directory are published at once, mgctl's mount when it is installed.
        Assert.Contains(additions.Current.Mounts, m => m.ContainerPath == "/run/metagpu");
        await daemon.Installed.WaitAsync(TimeSpan.FromSeconds(30));
        var socket = MgctlInstall.SocketPath(State);
        var runInode = Inode(MgctlInstall.RunDirectory(State));
        using var channel = new UnixChannel(socket);
        var client = new MetaGpu.Control.V1.Control.ControlClient(channel);
        try
        {
            Assert.Equal(socket, daemon.SocketPath);
            Assert.Equal((UnixFileMode)0b110_110_110, File.GetUnixFileMode(socket));
            var published = additions.Current;
            Assert.Equal([("/opt/tools/mgctl", MgctlInstall.BinaryPath(State)), ("/run/metagpu", MgctlInstall.RunDirectory(State))],
                published.Mounts.Select(m => (m.ContainerPath, m.HostPath)));
            Assert.Equal([new KeyValuePair<string, string>("METAGPU_CTL_SOCKET", "/run/metagpu/control.sock")], published.Environment);
            Assert.Equal(ScopeKind.Node, (await client.InfoAsync(new InfoRequest(), deadline: DateTime.UtcNow.AddSeconds(20))).Scope.Kind);

            var second = Assert.Throws<IOException>(() => ControlDaemon.Start(node, view, new ContainerAdditions(), options, NullLoggerFactory.Instance));
            Assert.Contains("in use by another process", second.Message, StringComparison.Ordinal);
        }
        finally
        {
            await daemon.DisposeAsync();
        }

        // A container's next mgctl connects to the same path, in the same (mounted) directory.
        await using var restarted = ControlDaemon.Start(node, view, additions, options, NullLoggerFactory.Instance);
        Assert.Equal(runInode, Inode(MgctlInstall.RunDirectory(State)));
        using var next = new UnixChannel(socket);
        var pong = await new MetaGpu.Control.V1.Control.ControlClient(next).PingAsync(new PingRequest(), deadline: DateTime.UtcNow.AddSeconds(20));
        Assert.Equal(Program.Version, pong.Version);
    }

    [Fact]
    public async Task WithoutAnExecutableContainersGetTheSocketButNoMgctl()
    {
        using var backend = SimulatedBackend.Parse("1");
        var inventory = backend.GetInventory();
        var plan = SharePlanBuilder.Build(SharingConfig.Default, inventory);
        var store = new NodeStateStore(new NodeState(1, SharingConfig.Default, inventory, plan, new GpuHealthSnapshot(1, new Dictionary<string, GpuHealth>())));
        var additions = new ContainerAdditions();

        await using var daemon = ControlDaemon.Start(new PluginNode(store, new AllocationFiles(State), backend), new VersionedSnapshot<WorkloadView>(WorkloadView.Empty),
            additions, new ControlOptions { Executable = null }, NullLoggerFactory.Instance);

        Assert.Equal(["/run/metagpu"], additions.Current.Mounts.Select(m => m.ContainerPath));
        Assert.False(File.Exists(MgctlInstall.BinaryPath(State)));
    }
}
