using CsCheck;
using MetaGpu.Usage.Proc;

namespace MetaGpu.Tests.Usage.Proc;

/// <summary>
/// The /proc parsers are total: no input makes them throw. Random text is built from pieces of the real formats
/// (so it reaches deep into the parsers) and from arbitrary characters, and captured samples are mutated.
/// </summary>
public sealed class ProcParserFuzzTests
{
    private static readonly string[] Pieces =
    [
        " ", "  ", "\n", "\t", "\r", "\0", "-", " - ", ":", "::", "0::", "/", "//", "..", ".", "\\", "\\040", "\\134", "\\0",
        "\\777", "\\12", "0", "1", "24", "259:2", "0:48", "4294967295", "4294967296", "-1", "ext4", "tmpfs", "overlay",
        "shared:1", "master:7", "rw,relatime", "/var/lib/metagpu", "/allocations/", ".json", "//deleted",
        "76a67dde34f405ceb9892c4021392e67b9da3345", "kubepods", "kubepods.slice", "kubepods-burstable-pod", ".slice",
        ".scope", "pod", "cri-containerd-", "crio-", "crio-conmon-", "docker-", "libpod-",
        "6b1f0c5e_2a47_4d8e_9c3b_1f2e3d4c5b6a", "6b1f0c5e-2a47-4d8e-9c3b-1f2e3d4c5b6a",
        "3a7f9e1c5b2d4068ac1e3f5b7d9a2c4e6f8a0b1c3d5e7f9a2b4c6d8e0f1a3b5c", "name=systemd", "memory", "pids",
        "(", ")", ") ", "(a) b)", "S", "18446744073709551615", "\u00e9", "\ud800", "\uffff",
    ];

    private static readonly Gen<string> Text = Gen.OneOf(
        Gen.Int[0, Pieces.Length - 1].Select(i => Pieces[i]).Array[0, 80].Select(p => string.Concat(p)),
        Gen.String);

    private static readonly StateDirMount State = new(254, 0, "/var/lib/metagpu/allocations");

    [Fact]
    public void MountInfoNeverThrowsAndAllocationKeysAreWellFormed()
    {
        Text.Sample(text =>
        {
            var entries = MountInfo.Parse(text);
            var keys = AllocationMounts.FindKeys(entries, State);
            Assert.All(keys, k => Assert.Matches("^[0-9a-f]{40}$", k));
            Assert.Equal(keys.Distinct().Order(StringComparer.Ordinal), keys);
            StateDirMount.Locate(entries, "/var/lib/metagpu");
            StateDirMount.Locate(entries, text);
        }, iter: 3000);
    }

    [Fact]
    public void CgroupNeverThrowsAndNamesOnlyWellFormedIds()
    {
        Text.Sample(text =>
        {
            var identity = CgroupPath.Parse(text);
            if (identity.ContainerId is { } id)
                Assert.Matches("^[0-9a-f]{64}$", id);
            if (identity.PodUid is { } pod)
                Assert.Matches("^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{32})$", pod);
        }, iter: 3000);
    }

    [Fact]
    public void StatNeverThrows()
    {
        Text.Sample(text =>
        {
            if (!ProcStat.TryParseStartTime(text, out var ticks))
                Assert.Equal(0UL, ticks);
        }, iter: 3000);
    }

    [Fact]
    public void StatusNeverThrowsAndGivesOnlyPositivePids()
    {
        Gen.OneOf(Text, Text.Select(t => "NSpid:" + t), Text.Select(t => "Name:\t" + t + "\nNSpid:\t" + t)).Sample(text =>
        {
            if (ProcStatus.TryParseNsPids(text, out var pids))
                Assert.All(pids, p => Assert.True(p > 0));
            else
                Assert.Empty(pids);
            Assert.True(pids.Length <= ProcStatus.MaxDepth);
        }, iter: 3000);
    }

    [Fact]
    public void MutatedSamplesNeverThrow()
    {
        var samples = ProcSamples.Names("mountinfo").Select(n => ProcSamples.Read("mountinfo", n))
            .Concat(ProcSamples.Names("cgroup").Select(n => ProcSamples.Read("cgroup", n)))
            .Concat(ProcSamples.Names("stat").Select(n => ProcSamples.Read("stat", n)))
            .Concat(ProcSamples.Names("status").Select(n => ProcSamples.Read("status", n)))
            .ToArray();
        Gen.Select(Gen.Int[0, samples.Length - 1], Gen.Int[0, 1 << 20], Gen.Int[0, 64], Gen.Char).Sample((which, at, cut, c) =>
        {
            var s = samples[which];
            var i = at % (s.Length + 1);
            var mutated = s[..i] + c + s[Math.Min(s.Length, i + cut)..];
            MountInfo.Parse(mutated);
            CgroupPath.Parse(mutated);
            ProcStat.TryParseStartTime(mutated, out _);
            ProcStatus.TryParseNsPids(mutated, out _);
        }, iter: 3000);
    }

    [Fact]
    public void InputsOfTheCapsSizeParse()
    {
        // 4 MiB of the longest-lined sample, as the cap lets through, and caps' worth of one line without a newline.
        var line = ProcSamples.Read("mountinfo", "k8s-gpu-workload-two-resources.txt").Split('\n')[0] + "\n";
        var big = string.Concat(Enumerable.Repeat(line, MountInfo.MaxBytes / line.Length));

        Assert.Equal(MountInfo.MaxBytes / line.Length, MountInfo.Parse(big).Count);
        Assert.Empty(MountInfo.Parse(new string('\\', MountInfo.MaxBytes)));
        Assert.Equal(CgroupIdentity.Unknown, CgroupPath.Parse(new string('/', CgroupPath.MaxBytes)));
    }
}
