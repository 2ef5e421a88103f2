using System.Globalization;
using MetaGpu.Control.Identity;
using MetaGpu.Rpc.Grpc;
using MetaGpu.Tests.Usage.Proc;
using MetaGpu.Usage.Proc;

namespace MetaGpu.Tests.Control.Identity;

/// <summary>
/// Who gets which scope, decided on a procfs-shaped folder: the caller's mount table (captured from runc containers
/// and written like the node's), its stat and its NSpid; credentials as SO_PEERCRED gives them.
/// </summary>
public sealed class CallerResolverTests : IDisposable
{
    private const string Node = "1 0 254:0 / / rw,relatime - ext4 /dev/vda rw\n2 1 0:5 / /dev rw - devtmpfs udev rw\n";
    private const string DaemonContainer = "40 39 0:60 / / rw - overlay overlay rw\n41 40 254:0 /var/lib/metagpu /var/lib/metagpu rw - ext4 /dev/vda rw\n";
    private static readonly StateDirMount State = new(254, 0, "/var/lib/metagpu/allocations");

    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("metagpu-caller-");
    private string Proc => Path.Join(_dir.FullName, "proc");

    public CallerResolverTests()
    {
        Process(1, Node, [1]);
        File.WriteAllText(Path.Join(_dir.FullName, "own-mountinfo"), DaemonContainer);
    }

    public void Dispose() => _dir.Delete(recursive: true);

    private void Process(int pid, string mountinfo, int[] nsPids, ulong started = 4242)
    {
        var d = Directory.CreateDirectory(Path.Join(Proc, pid.ToString(CultureInfo.InvariantCulture))).FullName;
        File.WriteAllText(Path.Join(d, "stat"), $"{pid} (python) S 1 {pid} {pid} 0 -1 4194560 100 0 0 0 3 1 0 0 20 0 1 0 {started} 1011712 137\n");
        File.WriteAllText(Path.Join(d, "mountinfo"), mountinfo);
        File.WriteAllText(Path.Join(d, "status"), $"Name:\tpython\nPid:\t{pid}\nNSpid:\t{string.Join('\t', nsPids)}\n");
    }

    private CallerResolver Resolver(uint ownUid = 0) =>
        new(new ProcFs(Proc, Path.Join(_dir.FullName, "own-mountinfo"), ProcFile.ReadText), State, ownUid);

    [Fact]
    public void AProcessWithAnAllocationMountGetsItsAllocationAndItsOwnPid()
    {
        Process(5001, ProcSamples.Read("mountinfo", "runc-workload.txt"), [5001, 7]);

        var caller = Resolver().Resolve(new UnixPeer(5001, 1000, 1000));

        Assert.Equal(CallerScope.Allocation, caller.Scope);
        Assert.Equal([ProcSamples.RuncKey], caller.AllocationKeys);
        Assert.Equal(7, caller.OwnPid);
        Assert.Equal(5001, caller.HostPid);
        Assert.Equal(4242UL, caller.StartTicks);
        Assert.Equal(9, caller.PidAsSeen(6000, [6000, 9]));
        Assert.Equal(0, caller.PidAsSeen(6001, [6001]));
    }

    /// <summary>
    /// A process that mounted a look-alike of another container's allocation file (from a tmpfs in its own user
    /// namespace, and from its rootfs) over its own gets its own allocation, never the other one.
    /// </summary>
    [Fact]
    public void AForgedMountGivesNoOtherAllocation()
    {
        Process(5002, ProcSamples.Read("mountinfo", "runc-forged-userns.txt"), [5002, 3]);

        var caller = Resolver().Resolve(new UnixPeer(5002, 1000, 1000));

        Assert.Equal([ProcSamples.RuncKey], caller.AllocationKeys);
        Assert.False(caller.Holds(ProcSamples.ForgedKey));
    }

    /// <summary>Only look-alikes, no real allocation mount: denied.</summary>
    [Fact]
    public void OnlyForgedMountsAreNoAllocation()
    {
        var forgedOnly = string.Join('\n', ProcSamples.Read("mountinfo", "runc-forged-userns.txt").Split('\n')
            .Where(l => !l.Contains($"/allocations/{ProcSamples.RuncKey}.json", StringComparison.Ordinal)));
        Assert.Contains(ProcSamples.ForgedKey, forgedOnly, StringComparison.Ordinal);
        Process(5007, forgedOnly, [5007, 3]);

        var e = Assert.Throws<CallerDeniedException>(() => Resolver().Resolve(new UnixPeer(5007, 1000, 1000)));
        Assert.Contains("holds no MetaGPU allocation", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TheDaemonsOwnContainerGetsTheNodeAsRootOrAsTheDaemonsUser()
    {
        Process(5003, DaemonContainer, [5003]);

        var root = Resolver().Resolve(new UnixPeer(5003, 0, 0));
        Assert.Equal(CallerScope.Node, root.Scope);
        Assert.Contains("daemon's mount namespace", root.Reason, StringComparison.Ordinal);
        Assert.Equal(5003, root.OwnPid);
        Assert.Equal(6000, root.PidAsSeen(6000, [6000, 9]));

        Assert.Equal(CallerScope.Node, Resolver(ownUid: 65532).Resolve(new UnixPeer(5003, 65532, 65532)).Scope);
        var other = Assert.Throws<CallerDeniedException>(() => Resolver().Resolve(new UnixPeer(5003, 1000, 1000)));
        Assert.Contains("not root", other.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void RootInTheNodesMountNamespaceGetsTheNodeAndOtherUsersThereDoNot()
    {
        Process(5004, Node, [5004]);

        var root = Resolver().Resolve(new UnixPeer(5004, 0, 0));
        Assert.Equal(CallerScope.Node, root.Scope);
        Assert.Contains("root in the node's mount namespace", root.Reason, StringComparison.Ordinal);

        var user = Assert.Throws<CallerDeniedException>(() => Resolver().Resolve(new UnixPeer(5004, 1000, 1000)));
        Assert.Contains("uid 1000", user.Message, StringComparison.Ordinal);
        Assert.Contains("not root", user.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void RootOfAnotherContainerWithoutAnAllocationIsDenied()
    {
        Process(5005, "70 69 0:90 / / rw - overlay overlay rw\n71 70 0:91 / /proc rw - proc proc rw\n", [5005, 1]);

        var e = Assert.Throws<CallerDeniedException>(() => Resolver().Resolve(new UnixPeer(5005, 0, 0)));
        Assert.Contains("mgctl answers inside a container given a MetaGPU resource", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void WithoutItsPidOrItsProcessNothingIsDecided()
    {
        var hidden = Assert.Throws<CallerDeniedException>(() => Resolver().Resolve(new UnixPeer(0, 0, 0)));
        Assert.Contains("hostPID", hidden.Message, StringComparison.Ordinal);
        var gone = Assert.Throws<CallerDeniedException>(() => Resolver().Resolve(new UnixPeer(5999, 0, 0)));
        Assert.Contains("exited", gone.Message, StringComparison.Ordinal);
        Assert.Throws<CallerDeniedException>(() => Resolver().Resolve(null));
    }

    /// <summary>Without a pidfd, a caller whose pid now names a process that started later is not the caller any more.</summary>
    [Fact]
    public void ACallerWhosePidWasReusedIsNoLongerThere()
    {
        Process(5006, ProcSamples.Read("mountinfo", "runc-workload.txt"), [5006, 7]);
        var resolver = Resolver();
        var caller = resolver.Resolve(new UnixPeer(5006, 0, 0));
        Assert.True(resolver.StillThere(caller));

        Process(5006, ProcSamples.Read("mountinfo", "runc-workload.txt"), [5006, 7], started: 9999);
        Assert.False(resolver.StillThere(caller));
        Directory.Delete(Path.Join(Proc, "5006"), recursive: true);
        Assert.False(resolver.StillThere(caller));
    }
}
