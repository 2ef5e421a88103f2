using MetaGpu.Usage.Proc;

namespace MetaGpu.Tests.Usage.Proc;

public sealed class ProcStatTests
{
    [Theory]
    [InlineData("runc-container.txt", 1143034UL)]
    [InlineData("comm-with-parens.txt", 1143639UL)]
    [InlineData("kernel-thread.txt", 25UL)]
    public void ReadsField22OfCapturedFiles(string sample, ulong expected)
    {
        Assert.True(ProcStat.TryParseStartTime(ProcSamples.Read("stat", sample), out var ticks));
        Assert.Equal(expected, ticks);
    }

    [Fact]
    public void ACommandNameThatLooksLikeFieldsDoesNotShiftThem()
    {
        // A process may name itself anything up to 15 bytes (prctl PR_SET_NAME), ')' and digits included.
        const string stat = "4242 () 1 2 3 4 5 6) S 1 4242 4242 0 -1 4194560 100 0 0 0 3 1 0 0 20 0 1 0 987654 1011712 137 18446744073709551615 0\n";

        Assert.True(ProcStat.TryParseStartTime(stat, out var ticks));
        Assert.Equal(987654UL, ticks);
    }

    [Theory]
    [InlineData("")]
    [InlineData("4242 (sleep")]
    [InlineData("4242 sleep) S 1")]
    [InlineData("4242 (sleep) S 1 4242 4242 0 -1 4194560 100 0 0 0 3 1 0 0 20 0 1 0")]
    [InlineData("4242 (sleep) S 1 4242 4242 0 -1 4194560 100 0 0 0 3 1 0 0 20 0 1 0 -5 1011712")]
    [InlineData("4242 (sleep) S 1 4242 4242 0 -1 4194560 100 0 0 0 3 1 0 0 20 0 1 0 x 1011712")]
    [InlineData("4242 (sleep) S 1 4242 4242 0 -1 4194560 100 0 0 0 3 1 0 0 20 0 1 0 18446744073709551616 1011712")]
    [InlineData(")(")]
    public void RefusesWhatIsNotAStatLine(string text)
    {
        Assert.False(ProcStat.TryParseStartTime(text, out var ticks));
        Assert.Equal(0UL, ticks);
    }

    [Fact]
    public void TheLastFieldMayEndTheText()
    {
        Assert.True(ProcStat.TryParseStartTime("7 (x) S 1 7 7 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 555\n", out var ticks));
        Assert.Equal(555UL, ticks);
    }
}
