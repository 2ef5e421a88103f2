using MetaGpu.Usage.Proc;

namespace MetaGpu.Tests.Usage.Proc;

public sealed class ProcStatusTests
{
    [Fact]
    public void AProcessOfTheNodeHasOnePid()
    {
        var text = ProcSamples.Read("status", "host-process.txt");
        Assert.True(ProcStatus.TryParseNsPids(text, out var pids));
        Assert.Equal([int.Parse(Line(text, "Pid:"))], pids);
    }

    [Fact]
    public void AProcessInAPidNamespaceHasItsPidThereLast()
    {
        var text = ProcSamples.Read("status", "pid-namespace.txt");
        Assert.True(ProcStatus.TryParseNsPids(text, out var pids));
        Assert.Equal(2, pids.Length);
        Assert.Equal(int.Parse(Line(text, "Pid:")), pids[0]);
        Assert.Equal(1, pids[1]);
    }

    [Fact]
    public void ThisProcessIsReadFromTheRealProc()
    {
        Assert.Equal([Environment.ProcessId], new ProcFs("/proc").NsPids(Environment.ProcessId)!);
        Assert.Null(new ProcFs("/proc").NsPids(0));
    }

    /// <summary>The command name is the one field a process chooses; the kernel escapes a newline in it, but even raw text there is not an NSpid line.</summary>
    [Fact]
    public void ANameThatLooksLikeAnNsPidLineIsNotOne()
    {
        const string text = "Name:\tx NSpid:\t1\nUmask:\t0022\nState:\tS (sleeping)\nNSpid:\t4242\t7\n";
        Assert.True(ProcStatus.TryParseNsPids(text, out var pids));
        Assert.Equal([4242, 7], pids);
    }

    [Theory]
    [InlineData("")]
    [InlineData("Name:\tsleep\nPid:\t5\n")]
    [InlineData("NSpid:\n")]
    [InlineData("NSpid:\t\t\n")]
    [InlineData("NSpid:\t12\tx\n")]
    [InlineData("NSpid:\t12\t-3\n")]
    [InlineData("NSpid:\t0\n")]
    [InlineData("NSpid:\t99999999999\n")]
    [InlineData("NSpid:\t+5\n")]
    [InlineData(" NSpid:\t5\n")]
    public void RefusesWhatIsNotAnNsPidLine(string text)
    {
        Assert.False(ProcStatus.TryParseNsPids(text, out var pids));
        Assert.Empty(pids);
    }

    [Fact]
    public void NoMoreLevelsThanTheKernelNests()
    {
        var deepest = "NSpid:" + string.Concat(Enumerable.Range(1, ProcStatus.MaxDepth).Select(i => $"\t{i}")) + "\n";
        Assert.True(ProcStatus.TryParseNsPids(deepest, out var pids));
        Assert.Equal(ProcStatus.MaxDepth, pids.Length);
        Assert.False(ProcStatus.TryParseNsPids(deepest.TrimEnd('\n') + "\t33\n", out _));
    }

    [Fact]
    public void TheRootMountIsTheLastMountedAtSlash()
    {
        var entries = MountInfo.Parse(
            "20 1 254:0 / / rw - ext4 /dev/vda rw\n" +
            "21 20 0:5 / /dev rw - devtmpfs udev rw\n" +
            "35 20 0:48 / / rw - tmpfs none rw\n");
        Assert.Equal(35, MountInfo.RootMountId(entries));
        Assert.Null(MountInfo.RootMountId(MountInfo.Parse("21 20 0:5 / /dev rw - devtmpfs udev rw\n")));
        Assert.Equal(MountInfo.RootMountId(new ProcFs("/proc").OwnMountTable()!), MountInfo.RootMountId(new ProcFs("/proc").MountTable(Environment.ProcessId)!));
    }

    private static string Line(string text, string prefix) =>
        text.Split('\n').First(l => l.StartsWith(prefix, StringComparison.Ordinal))[prefix.Length..].Trim();
}
