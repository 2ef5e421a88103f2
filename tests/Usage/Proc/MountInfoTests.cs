using MetaGpu.Usage.Proc;

namespace MetaGpu.Tests.Usage.Proc;

public sealed class MountInfoTests
{
    [Fact]
    public void ParsesEveryLineOfARealContainersTable()
    {
        var text = ProcSamples.Read("mountinfo", "runc-workload.txt");
        var entries = MountInfo.Parse(text);

        Assert.Equal(text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length, entries.Count);
        Assert.Equal(new MountInfoEntry(65, 43, 254, 0, "/run/bundle/rootfs", "/", "ext4", "/dev/vda"), entries[0]);
        var allocation = Assert.Single(entries, e => e.MountPoint == "/etc/metagpu/allocation.json");
        Assert.Equal(new MountInfoEntry(82, 65, 254, 0, $"/var/lib/metagpu/allocations/{ProcSamples.RuncKey}.json", "/etc/metagpu/allocation.json", "ext4", "/dev/vda"), allocation);
    }

    [Fact]
    public void DecodesTheKernelsOctalEscapesInPaths()
    {
        var entries = MountInfo.Parse(ProcSamples.Read("mountinfo", "runc-forged-userns.txt"));

        Assert.Contains(entries, e => e.MountPoint == "/mnt/with space" && e.Major == 0 && e.Minor == 49);
        Assert.Contains(entries, e => e.MountPoint == "/mnt/tab\there");
        Assert.Contains(entries, e => e.MountPoint == "/mnt/back\\slash");
    }

    [Theory]
    [InlineData(@"/a\040b", "/a b")]
    [InlineData(@"/a\011b\012c", "/a\tb\nc")]
    [InlineData(@"/a\134040", @"/a\040")]
    [InlineData(@"/end\", @"/end\")]
    [InlineData(@"/short\04", @"/short\04")]
    [InlineData(@"/not\0a8", @"/not\0a8")]
    [InlineData(@"\040\040", "  ")]
    public void UnescapesOnlyThreeOctalDigits(string root, string expected)
    {
        var entry = Assert.Single(MountInfo.Parse($"1 0 8:1 {root} {root} rw - ext4 {root} rw"));

        Assert.Equal(expected, entry.Root);
        Assert.Equal(expected, entry.MountPoint);
        Assert.Equal(expected, entry.Source);
    }

    [Fact]
    public void ReadsAnyNumberOfOptionalFieldsUpToTheSeparator()
    {
        var entries = MountInfo.Parse(
            "24 1 259:2 / / rw,relatime shared:1 - ext4 /dev/nvme0n1p2 rw\n" +
            "25 24 0:6 / /dev rw shared:2 master:7 propagate_from:3 unbindable - devtmpfs udev rw\n" +
            "26 24 0:7 / /run rw - tmpfs tmpfs\n");

        Assert.Equal(["ext4", "devtmpfs", "tmpfs"], entries.Select(e => e.FsType));
        Assert.Equal(["/dev/nvme0n1p2", "udev", "tmpfs"], entries.Select(e => e.Source));
    }

    [Theory]
    [InlineData("")]
    [InlineData("\n\n")]
    [InlineData("24 1 259:2 / / rw,relatime shared:1 ext4 /dev/sda rw")]
    [InlineData("24 1 259:2 / / rw - ext4")]
    [InlineData("24 1 259 / / rw - ext4 /dev/sda rw")]
    [InlineData("24 1 259:x / / rw - ext4 /dev/sda rw")]
    [InlineData("24 1 :2 / / rw - ext4 /dev/sda rw")]
    [InlineData("-24 1 259:2 / / rw - ext4 /dev/sda rw")]
    [InlineData("24 1 4294967296:2 / / rw - ext4 /dev/sda rw")]
    [InlineData("x 1 259:2 / / rw - ext4 /dev/sda rw")]
    [InlineData("24 1 259:2 /")]
    public void SkipsLinesOfAnotherShape(string line)
    {
        var entries = MountInfo.Parse(line + "\n25 1 8:1 /ok /ok rw - ext4 /dev/sda rw\n" + line);

        Assert.Equal("/ok", Assert.Single(entries).Root);
    }

    [Fact]
    public void KeepsTheDeletedMarkerOfAReplacedFileInTheRoot()
    {
        var entries = MountInfo.Parse(ProcSamples.Read("mountinfo", "runc-replaced-file.txt"));

        Assert.Equal(2, entries.Count(e => e.Root == $"/var/lib/metagpu/allocations/{ProcSamples.RuncKey}.json//deleted"));
    }

    [Fact]
    public void EverySampleParsesCompletely()
    {
        foreach (var name in ProcSamples.Names("mountinfo"))
        {
            var text = ProcSamples.Read("mountinfo", name);
            Assert.True(text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length == MountInfo.Parse(text).Count, name);
        }
    }
}
