using MetaGpu.Usage.Proc;

namespace MetaGpu.Tests.Usage.Proc;

public sealed class AllocationMountsTests
{
    private static readonly StateDirMount Runc = new(254, 0, "/var/lib/metagpu/allocations");
    private static readonly StateDirMount K8s = new(259, 2, "/var/lib/metagpu/allocations");

    private static IReadOnlyList<string> Keys(string sample, StateDirMount state) =>
        AllocationMounts.FindKeys(MountInfo.Parse(ProcSamples.Read("mountinfo", sample)), state);

    [Fact]
    public void BothMountsOfOneFileAreOneKey()
    {
        Assert.Equal([ProcSamples.RuncKey], Keys("runc-workload.txt", Runc));
    }

    [Fact]
    public void TheStateDirectoryFoundFromTheDaemonsOwnTableMatchesTheWorkloads()
    {
        var state = StateDirMount.Locate(MountInfo.Parse(ProcSamples.Read("mountinfo", "runc-daemon.txt")), "/var/lib/metagpu")!;

        Assert.Equal([ProcSamples.RuncKey], Keys("runc-workload.txt", state));
    }

    [Fact]
    public void TwoResourcesAreTwoKeysInOrder()
    {
        var state = StateDirMount.Locate(MountInfo.Parse(ProcSamples.Read("mountinfo", "k8s-daemon-pod.txt")), "/var/lib/metagpu")!;

        Assert.Equal([ProcSamples.K8sKey1, ProcSamples.K8sKey2], Keys("k8s-gpu-workload-two-resources.txt", state));
    }

    [Fact]
    public void LookAlikesFromATmpfsAndFromTheRootfsDoNotCount()
    {
        // A process of the container made a user namespace, mounted a tmpfs with
        // /var/lib/metagpu/allocations/<other key>.json in it (same root, device 0:48), and bind-mounted a file of that
        // name from its own rootfs (same device 254:0, another root), both over its real mounts.
        var entries = MountInfo.Parse(ProcSamples.Read("mountinfo", "runc-forged-userns.txt"));
        Assert.Contains(entries, e => e.Root == $"/var/lib/metagpu/allocations/{ProcSamples.ForgedKey}.json" && e.Major == 0);
        Assert.Contains(entries, e => e.Root.EndsWith($"/allocations/{ProcSamples.ForgedKey}.json", StringComparison.Ordinal) && e.Major == 254);

        Assert.Equal([ProcSamples.RuncKey], AllocationMounts.FindKeys(entries, Runc));
    }

    [Fact]
    public void LookAlikesOnTheRightDiskUnderAnotherRootOrOnAnotherDiskDoNotCount()
    {
        var state = StateDirMount.Locate(MountInfo.Parse(ProcSamples.Read("mountinfo", "separate-varlib-daemon.txt")), "/var/lib/metagpu")!;

        Assert.Equal([ProcSamples.K8sKey1], Keys("separate-varlib-workload.txt", state));
        // The same table read with the common layout's state (root filesystem) finds only the file on that disk.
        Assert.Equal([ProcSamples.K8sKey2], Keys("separate-varlib-workload.txt", K8s));
    }

    [Fact]
    public void AFileReplacedWhileMountedStillNamesItsKey()
    {
        Assert.Equal([ProcSamples.RuncKey], Keys("runc-replaced-file.txt", Runc));
    }

    [Fact]
    public void AProcessThatHidItsMountsByChrootHasNoKey()
    {
        // Not a forgery (it claims nothing), but what the daemon sees of a process that left its mount table.
        Assert.Empty(Keys("runc-hidden-by-chroot.txt", Runc));
    }

    [Fact]
    public void TheDaemonsOwnTableHoldsNoAllocation()
    {
        Assert.Empty(Keys("runc-daemon.txt", Runc));
        Assert.Empty(Keys("k8s-daemon-pod.txt", K8s));
    }

    [Theory]
    [InlineData("/var/lib/metagpu/allocations/5C0A3E9F1B7D24680ACE13579BDF02468ACE1357.json")]
    [InlineData("/var/lib/metagpu/allocations/5c0a3e9f1b7d24680ace13579bdf02468ace135.json")]
    [InlineData("/var/lib/metagpu/allocations/5c0a3e9f1b7d24680ace13579bdf02468ace13570.json")]
    [InlineData("/var/lib/metagpu/allocations/5c0a3e9f1b7d24680ace13579bdf02468ace135g.json")]
    [InlineData("/var/lib/metagpu/allocations/5c0a3e9f1b7d24680ace13579bdf02468ace1357.json.tmp")]
    [InlineData("/var/lib/metagpu/allocations/5c0a3e9f1b7d24680ace13579bdf02468ace1357")]
    [InlineData("/var/lib/metagpu/allocations/.5c0a3e9f1b7d24680ace13579bdf02468ace1357.json")]
    [InlineData("/var/lib/metagpu/allocations/sub/5c0a3e9f1b7d24680ace13579bdf02468ace1357.json")]
    [InlineData("/var/lib/metagpu/allocations5c0a3e9f1b7d24680ace13579bdf02468ace1357.json")]
    [InlineData("/var/lib/metagpu/allocations")]
    [InlineData("/var/lib/metagpu/allocations/")]
    [InlineData("/var/lib/metagpu/5c0a3e9f1b7d24680ace13579bdf02468ace1357.json")]
    [InlineData("/x/var/lib/metagpu/allocations/5c0a3e9f1b7d24680ace13579bdf02468ace1357.json")]
    [InlineData("/var/lib/metagpu/allocations/5c0a3e9f1b7d24680ace13579bdf02468ace1357.json/deleted")]
    public void OnlyAValidKeyFileDirectlyInTheAllocationsDirectoryCounts(string root)
    {
        Assert.Empty(AllocationMounts.FindKeys([new MountInfoEntry(1, 0, 259, 2, root, "/etc/metagpu/allocation.json", "ext4", "/dev/nvme0n1p2")], K8s));
    }

    [Fact]
    public void TheDeviceMustMatchInBothHalves()
    {
        var root = $"/var/lib/metagpu/allocations/{ProcSamples.K8sKey1}.json";
        MountInfoEntry At(uint major, uint minor) => new(1, 0, major, minor, root, "/x", "ext4", "/dev/nvme0n1p2");

        Assert.Equal([ProcSamples.K8sKey1], AllocationMounts.FindKeys([At(259, 2)], K8s));
        Assert.Empty(AllocationMounts.FindKeys([At(259, 1), At(258, 2), At(2, 259), At(0, 2)], K8s));
    }

    [Fact]
    public void KeysAreDistinctAndInOrdinalOrder()
    {
        var keys = new[] { "ffffffffffffffffffffffffffffffffffffffff", "0000000000000000000000000000000000000000", "ffffffffffffffffffffffffffffffffffffffff", "a000000000000000000000000000000000000000" };
        var entries = keys.Select((k, i) => new MountInfoEntry(i, 0, 259, 2, $"/var/lib/metagpu/allocations/{k}.json", $"/m{i}", "ext4", "/dev/x")).ToList();

        Assert.Equal(["0000000000000000000000000000000000000000", "a000000000000000000000000000000000000000", "ffffffffffffffffffffffffffffffffffffffff"], AllocationMounts.FindKeys(entries, K8s));
    }
}
