using System.Diagnostics;
using System.Globalization;
using MetaGpu.Usage.Proc;

namespace MetaGpu.Tests.Usage.Proc;

/// <summary>ProcFs on this machine's real /proc, and on a procfs-shaped folder for what a live system rarely shows.</summary>
public sealed class ProcFsTests : IDisposable
{
    private const string Key = "5c0a3e9f1b7d24680ace13579bdf02468ace1357";
    private static readonly StateDirMount State = new(259, 2, "/var/lib/metagpu/allocations");
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("metagpu-procfs-");

    public void Dispose() => _dir.Delete(recursive: true);

    [Fact]
    public void ReadsThisTestProcessFromTheRealProc()
    {
        var procFs = new ProcFs("/proc");
        var state = procFs.LocateOwnStateDir(_dir.FullName);
        Assert.NotNull(state);

        var identity = procFs.ReadIdentity(Environment.ProcessId, state);

        Assert.NotNull(identity);
        Assert.Equal(Environment.ProcessId, identity.Pid);
        Assert.True(ProcStat.TryParseStartTime(File.ReadAllText("/proc/self/stat"), out var started));
        Assert.Equal(started, identity.StartTicks);
        Assert.Empty(identity.AllocationKeys);
        Assert.Equal(CgroupPath.Parse(File.ReadAllText("/proc/self/cgroup")), identity.Cgroup);
        Assert.Equal(File.ReadAllText("/proc/self/cmdline").Replace('\0', ' ').TrimEnd(' '), identity.CommandLine);
        Assert.Contains("testhost", identity.CommandLine, StringComparison.Ordinal);
    }

    [Fact]
    public void AProcessThatIsGoneHasNoIdentity()
    {
        using var child = Process.Start(new ProcessStartInfo("true"))!;
        child.WaitForExit();
        var pid = child.Id;

        Assert.False(Directory.Exists($"/proc/{pid}"));
        Assert.Null(new ProcFs("/proc").ReadIdentity(pid, State));
        Assert.Null(new ProcFs("/proc").ReadIdentity(0, State));
        Assert.Null(new ProcFs("/proc").ReadIdentity(-1, State));
        Assert.Null(new ProcFs(Path.Join(_dir.FullName, "nowhere")).ReadIdentity(Environment.ProcessId, State));
    }

    [Fact]
    public void LocatesTheStateDirectoryOnTheFilesystemTheKernelReports()
    {
        var state = new ProcFs("/proc").LocateOwnStateDir(_dir.FullName);

        Assert.NotNull(state);
        Assert.Equal(DeviceOf(_dir.FullName), (state.Major, state.Minor));
        Assert.EndsWith(Path.Join(_dir.Name, "allocations"), state.AllocationsRoot, StringComparison.Ordinal);
    }

    [Fact]
    public void AStateDirectoryReachedThroughASymlinkIsWhereTheLinkLeads()
    {
        // /dev/shm is a tmpfs of its own, so the link and its target are on different filesystems.
        Assert.NotEqual(DeviceOf("/dev/shm"), DeviceOf(_dir.FullName));
        var target = Directory.CreateDirectory(Path.Join("/dev/shm", "metagpu-procfs-" + Guid.NewGuid().ToString("n")));
        try
        {
            var link = Path.Join(_dir.FullName, "state");
            Directory.CreateSymbolicLink(link, target.FullName);

            var state = new ProcFs("/proc").LocateOwnStateDir(Path.Join(link, "."));

            Assert.NotNull(state);
            Assert.Equal(DeviceOf(target.FullName), (state.Major, state.Minor));
            Assert.NotEqual(DeviceOf(_dir.FullName), (state.Major, state.Minor));
            Assert.EndsWith(Path.Join(target.Name, "allocations"), state.AllocationsRoot, StringComparison.Ordinal);
        }
        finally
        {
            target.Delete(recursive: true);
        }
    }

    [Fact]
    public void ResolvesRelativeAndChainedLinksAndStopsAtALoop()
    {
        var real = Directory.CreateDirectory(Path.Join(_dir.FullName, "real", "state"));
        Directory.CreateSymbolicLink(Path.Join(_dir.FullName, "b"), "real");
        Directory.CreateSymbolicLink(Path.Join(_dir.FullName, "a"), Path.Join(_dir.FullName, "b"));
        File.CreateSymbolicLink(Path.Join(_dir.FullName, "loop"), Path.Join(_dir.FullName, "loop"));

        Assert.Equal(real.FullName, ProcFs.ResolveLinks(Path.Join(_dir.FullName, "a", "state")));
        Assert.Equal(Path.Join(real.FullName, "missing", "x"), ProcFs.ResolveLinks(Path.Join(_dir.FullName, "a", "state", "missing", "x")));
        Assert.Equal(Path.Join(_dir.FullName, "real"), ProcFs.ResolveLinks(Path.Join(_dir.FullName, "a", "state", "..")));
        Assert.Equal(Path.Join(_dir.FullName, "loop", "x"), ProcFs.ResolveLinks(Path.Join(_dir.FullName, "loop", "x")));
    }

    [Fact]
    public void ReadsAProcfsShapedFolder()
    {
        var pid = FakeProcess(4242, cmdline: "python3\0train.py\0--lr\00.1\0\0",
            cgroup: "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod6b1f0c5e_2a47_4d8e_9c3b_1f2e3d4c5b6a.slice/cri-containerd-3a7f9e1c5b2d4068ac1e3f5b7d9a2c4e6f8a0b1c3d5e7f9a2b4c6d8e0f1a3b5c.scope\n");

        var identity = new ProcFs(_dir.FullName).ReadIdentity(pid, State);

        Assert.NotNull(identity);
        Assert.Equal(new ProcessIdentity(4242, 1143034, identity.AllocationKeys, new CgroupIdentity("3a7f9e1c5b2d4068ac1e3f5b7d9a2c4e6f8a0b1c3d5e7f9a2b4c6d8e0f1a3b5c", "6b1f0c5e-2a47-4d8e-9c3b-1f2e3d4c5b6a"), "python3 train.py --lr 0.1"), identity);
        Assert.Equal([Key], identity.AllocationKeys);
    }

    [Theory]
    [InlineData("", "")]
    [InlineData("a\0b\0", "a b")]
    [InlineData("a b\0c\0", "a b c")]
    [InlineData("evil\nline\0\u001b[31m\0", "evil?line ?[31m")]
    [InlineData("\0\0\0", "")]
    public void ACommandLineIsOnePrintableLine(string raw, string expected)
    {
        Assert.Equal(expected, ProcFs.CommandLineText(raw));
    }

    [Fact]
    public void AKernelThreadHasAnEmptyCommandLine()
    {
        var pid = FakeProcess(2, cmdline: "", stat: ProcSamples.Read("stat", "kernel-thread.txt"), mountinfo: ProcSamples.Read("mountinfo", "host-systemd.txt"));

        var identity = new ProcFs(_dir.FullName).ReadIdentity(pid, State);

        Assert.NotNull(identity);
        Assert.Equal("", identity.CommandLine);
        Assert.Empty(identity.AllocationKeys);
        Assert.Equal(25UL, identity.StartTicks);
    }

    [Fact]
    public void ALongCommandLineIsCutAtItsCap()
    {
        var pid = FakeProcess(4242, cmdline: "x" + new string('y', 10_000) + "\0");

        var identity = new ProcFs(_dir.FullName).ReadIdentity(pid, State);

        Assert.NotNull(identity);
        Assert.Equal(ProcFs.MaxCommandLineBytes, identity.CommandLine.Length);
    }

    [Fact]
    public void AMountTableOverItsCapGivesNoIdentity()
    {
        var line = $"1 0 259:2 /var/lib/metagpu/allocations/{Key}.json /etc/metagpu/allocation.json ro - ext4 /dev/nvme0n1p2 rw\n";
        var atCap = FakeProcess(10, mountinfo: string.Concat(Enumerable.Repeat(line, MountInfo.MaxBytes / line.Length)));
        var overCap = FakeProcess(11, mountinfo: string.Concat(Enumerable.Repeat(line, MountInfo.MaxBytes / line.Length + 1)));

        Assert.Equal([Key], new ProcFs(_dir.FullName).ReadIdentity(atCap, State)?.AllocationKeys);
        Assert.Null(new ProcFs(_dir.FullName).ReadIdentity(overCap, State));
    }

    [Fact]
    public void AnUnreadableCgroupLeavesTheIdentityWithoutLabels()
    {
        var missing = FakeProcess(20);
        File.Delete(Path.Join(_dir.FullName, "20", "cgroup"));
        var huge = FakeProcess(21, cgroup: $"0::/kubepods/pod6b1f0c5e-2a47-4d8e-9c3b-1f2e3d4c5b6a/{new string('a', 64)}\n" + new string('\n', CgroupPath.MaxBytes));

        Assert.Equal(CgroupIdentity.Unknown, new ProcFs(_dir.FullName).ReadIdentity(missing, State)?.Cgroup);
        Assert.Equal(CgroupIdentity.Unknown, new ProcFs(_dir.FullName).ReadIdentity(huge, State)?.Cgroup);
        Assert.Equal([Key], new ProcFs(_dir.FullName).ReadIdentity(huge, State)?.AllocationKeys);
    }

    [Theory]
    [InlineData("stat")]
    [InlineData("mountinfo")]
    public void WithoutItsStatOrMountTableAProcessHasNoIdentity(string file)
    {
        var pid = FakeProcess(30);
        File.Delete(Path.Join(_dir.FullName, "30", file));

        Assert.Null(new ProcFs(_dir.FullName).ReadIdentity(pid, State));
    }

    [Fact]
    public void AStatWithoutAStartTimeGivesNoIdentity()
    {
        var pid = FakeProcess(31, stat: "31 (x) S 1 2 3");

        Assert.Null(new ProcFs(_dir.FullName).ReadIdentity(pid, State));
    }

    [Fact]
    public void APidReusedWhileReadingGivesNoIdentity()
    {
        var pid = FakeProcess(40);
        var statPath = Path.Join(_dir.FullName, "40", "stat");
        var statReads = 0;
        var reads = new List<string>();
        string? Read(string path, int max, ProcFile.Overflow overflow)
        {
            reads.Add(Path.GetFileName(path));
            var text = ProcFile.ReadText(path, max, overflow);
            // The first process exits after the first read of its stat; a new one gets its pid.
            if (path == statPath && ++statReads == 1)
                File.WriteAllText(statPath, text!.Replace(" 1143034 ", " 1143999 ", StringComparison.Ordinal));
            return text;
        }

        Assert.Null(new ProcFs(_dir.FullName, "/proc/self/mountinfo", Read).ReadIdentity(pid, State));
        Assert.Equal(["stat", "mountinfo", "cgroup", "cmdline", "stat"], reads);
    }

    [Fact]
    public void AProcessThatExitsBeforeTheLastReadGivesNoIdentity()
    {
        var pid = FakeProcess(41);
        string? Read(string path, int max, ProcFile.Overflow overflow)
        {
            var text = ProcFile.ReadText(path, max, overflow);
            if (Path.GetFileName(path) == "cmdline")
                Directory.Delete(Path.Join(_dir.FullName, "41"), recursive: true);
            return text;
        }

        Assert.Null(new ProcFs(_dir.FullName, "/proc/self/mountinfo", Read).ReadIdentity(pid, State));
    }

    [Fact]
    public void OurOwnMountTableIsReadFromTheFileGiven()
    {
        var own = Path.Join(_dir.FullName, "own-mountinfo");
        File.WriteAllText(own, ProcSamples.Read("mountinfo", "separate-varlib-daemon.txt"));

        var state = new ProcFs("/nowhere", own, ProcFile.ReadText).LocateOwnStateDir("/var/lib/metagpu");

        Assert.Equal(new StateDirMount(8, 17, "/metagpu/allocations"), state);
        Assert.Null(new ProcFs("/proc", Path.Join(_dir.FullName, "missing"), ProcFile.ReadText).LocateOwnStateDir("/var/lib/metagpu"));
    }

    private int FakeProcess(int pid, string? cmdline = null, string? cgroup = null, string? stat = null, string? mountinfo = null)
    {
        var dir = Directory.CreateDirectory(Path.Join(_dir.FullName, pid.ToString(CultureInfo.InvariantCulture))).FullName;
        File.WriteAllText(Path.Join(dir, "stat"), stat ?? ProcSamples.Read("stat", "runc-container.txt"));
        File.WriteAllText(Path.Join(dir, "mountinfo"), mountinfo ?? ProcSamples.Read("mountinfo", "k8s-gpu-workload-two-resources.txt").Replace(ProcSamples.K8sKey2, "not-a-key", StringComparison.Ordinal));
        File.WriteAllText(Path.Join(dir, "cgroup"), cgroup ?? ProcSamples.Read("cgroup", "v2-systemd-containerd.txt"));
        File.WriteAllText(Path.Join(dir, "cmdline"), cmdline ?? "sleep\0" + "60\0");
        return pid;
    }

    /// <summary>The device the kernel reports for a path (coreutils stat), as major and minor.</summary>
    internal static (uint Major, uint Minor) DeviceOf(string path)
    {
        var psi = new ProcessStartInfo("stat", ["-c", "%Hd %Ld", path]) { RedirectStandardOutput = true };
        using var p = Process.Start(psi)!;
        var words = p.StandardOutput.ReadToEnd().Split(' ', StringSplitOptions.TrimEntries);
        p.WaitForExit();
        return (uint.Parse(words[0], CultureInfo.InvariantCulture), uint.Parse(words[1], CultureInfo.InvariantCulture));
    }
}
