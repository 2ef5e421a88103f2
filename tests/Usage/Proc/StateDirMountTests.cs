using MetaGpu.Usage.Proc;

namespace MetaGpu.Tests.Usage.Proc;

public sealed class StateDirMountTests
{
    private static IReadOnlyList<MountInfoEntry> Sample(string name) => MountInfo.Parse(ProcSamples.Read("mountinfo", name));

    private static MountInfoEntry Mount(string root, string mountPoint, uint major = 8, uint minor = 1) =>
        new(1, 0, major, minor, root, mountPoint, "ext4", "/dev/sda1");

    [Fact]
    public void TheDaemonsHostPathMountOfARealContainer()
    {
        Assert.Equal(new StateDirMount(254, 0, "/var/lib/metagpu/allocations"), StateDirMount.Locate(Sample("runc-daemon.txt"), "/var/lib/metagpu"));
    }

    [Fact]
    public void TheDaemonPodOfStaticYaml()
    {
        Assert.Equal(new StateDirMount(259, 2, "/var/lib/metagpu/allocations"), StateDirMount.Locate(Sample("k8s-daemon-pod.txt"), "/var/lib/metagpu"));
    }

    [Fact]
    public void AVarLibOfItsOwnGivesThePathInsideThatFilesystem()
    {
        Assert.Equal(new StateDirMount(8, 17, "/metagpu/allocations"), StateDirMount.Locate(Sample("separate-varlib-daemon.txt"), "/var/lib/metagpu"));
    }

    [Fact]
    public void OnTheHostTheRootFilesystemHoldsIt()
    {
        Assert.Equal(new StateDirMount(259, 2, "/var/lib/metagpu/allocations"), StateDirMount.Locate(Sample("host-systemd.txt"), "/var/lib/metagpu"));
    }

    [Theory]
    // Root "/" and mount point "/": no doubled slashes.
    [InlineData("/", "/", "/var/lib/metagpu", "/var/lib/metagpu/allocations")]
    // The state directory is the filesystem's root (a disk of its own mounted there).
    [InlineData("/", "/var/lib/metagpu", "/var/lib/metagpu", "/allocations")]
    [InlineData("/", "/var/lib/metagpu", "/var/lib/metagpu/", "/allocations")]
    [InlineData("/", "/var/lib/metagpu/", "/var/lib/metagpu", "/allocations")]
    // Below a bind mount: the rest of the path is appended to its root.
    [InlineData("/srv/state", "/var/lib", "/var/lib/metagpu", "/srv/state/metagpu/allocations")]
    [InlineData("/srv/state/", "/var/lib", "/var/lib/metagpu", "/srv/state/metagpu/allocations")]
    [InlineData("/srv", "/var", "/var/lib/./metagpu/../metagpu//", "/srv/lib/metagpu/allocations")]
    // The state directory "/" (odd, still one slash).
    [InlineData("/", "/", "/", "/allocations")]
    public void JoinsTheRootAndThePathBelowTheMountPoint(string root, string mountPoint, string stateDir, string expected)
    {
        Assert.Equal(expected, StateDirMount.Locate([Mount(root, mountPoint)], stateDir)?.AllocationsRoot);
    }

    [Fact]
    public void ARootIsTakenLiterallyAndOnlyItsOwnSlashesAreDoubled()
    {
        // fuzz/regressions/mountinfo/doubled-slash-in-root: a root the kernel never writes ("//allocations/…"). The
        // fuzz target took its doubled slash for one of Locate's joins; Locate adds none, and compares roots as written.
        var entries = MountInfo.Parse(File.ReadAllText(Path.Combine(ProcSamples.Folder, "..", "..", "..", "..", "fuzz", "regressions", "mountinfo", "doubled-slash-in-root")));
        var top = Assert.Single(entries, e => e.MountPoint == "/");

        var state = StateDirMount.Locate(entries, "/var/lib/metagpu");

        Assert.Equal(new StateDirMount(top.Major, top.Minor, top.Root + "/var/lib/metagpu/allocations"), state);
        Assert.StartsWith("//allocations/", top.Root, StringComparison.Ordinal);
    }

    [Fact]
    public void TheLongestPrefixByWholeComponentsWins()
    {
        IReadOnlyList<MountInfoEntry> mounts =
        [
            Mount("/", "/", 259, 2),
            Mount("/", "/var/lib/metagpu2", 8, 33),
            Mount("/", "/var", 8, 17),
            Mount("/", "/var/lib/metagp", 8, 49),
        ];

        var state = StateDirMount.Locate(mounts, "/var/lib/metagpu");

        Assert.Equal(new StateDirMount(8, 17, "/lib/metagpu/allocations"), state);
    }

    [Fact]
    public void OfStackedMountsTheLastIsOnTop()
    {
        IReadOnlyList<MountInfoEntry> mounts = [Mount("/", "/", 259, 2), Mount("/a", "/var/lib/metagpu", 8, 17), Mount("/b", "/var/lib/metagpu", 0, 55)];

        Assert.Equal(new StateDirMount(0, 55, "/b/allocations"), StateDirMount.Locate(mounts, "/var/lib/metagpu"));
    }

    [Fact]
    public void NothingMatchesWithoutAMountAboveThePath()
    {
        Assert.Null(StateDirMount.Locate([], "/var/lib/metagpu"));
        Assert.Null(StateDirMount.Locate([Mount("/", "/proc"), Mount("/", "/var/lib/metagpu2"), Mount("/", "relative")], "/var/lib/metagpu"));
        Assert.Null(StateDirMount.Locate([Mount("/", "/")], ""));
        Assert.Null(StateDirMount.Locate([Mount("/", "/")], "/var/lib/\0metagpu"));
    }

    [Fact]
    public void ARelativeStateDirectoryIsTakenFromTheWorkingDirectory()
    {
        var cwd = Environment.CurrentDirectory;

        var state = StateDirMount.Locate([Mount("/", "/")], "state");

        Assert.Equal(Path.Join(cwd, "state", "allocations"), state?.AllocationsRoot);
    }
}
