using MetaGpu.DevicePlugin;
using static MetaGpu.Tests.DevicePlugin.AllocationTestSupport;

namespace MetaGpu.Tests.DevicePlugin;

/// <summary><see cref="AllocationPolicy.Describe"/> on examples (its property is in
/// <see cref="AllocationPolicyPropertyTests"/>).</summary>
public class AllocationShapeTests
{
    [Theory]
    //          N of GPUs     ids                     per GPU (index:count)  min  spans
    [InlineData("100 100",    "0:0-29",               "0:30",                1,   false)]
    [InlineData("100 100",    "0:50-99 1:0-99",       "0:50 1:100",          2,   false)]
    [InlineData("100 100",    "0:90-99 1:0-19",       "0:10 1:20",           1,   true)]
    [InlineData("100 100",    "1:0-99",               "1:100",               1,   false)]
    [InlineData("100 100 100", "0:0 1:0 2:0",         "0:1 1:1 2:1",         1,   true)]
    [InlineData("100 100 100", "2:0-99 0:0-99 1:0",   "0:100 1:1 2:100",     3,   false)]
    [InlineData("50 200 100", "1:0-199 2:0-9",        "1:200 2:10",          2,   false)]  // 210: 200 + 100
    [InlineData("50 200 100", "0:0-49 2:0-99",        "0:50 2:100",          1,   true)]   // 150 fits the 200 GPU
    [InlineData("10 10",      "0:0-9 1:0-4",          "0:10 1:5",            2,   false)]
    [InlineData("100",        "",                     "",                    0,   false)]
    public void Examples(string ns, string ids, string perGpu, int minimum, bool spans)
    {
        var plan = Plan(ns.Split(' ').Select(n => (int.Parse(n, System.Globalization.CultureInfo.InvariantCulture), (int?)0)).ToArray());
        var list = Ids(plan, ids);
        var shape = AllocationPolicy.Describe(plan, list);
        Assert.Equal(perGpu, string.Join(' ', shape.PerGpu.Select(s => $"{s.Gpu.Index}:{s.Count}")));
        Assert.Equal(list.Length, shape.Requested);
        Assert.Equal(minimum, shape.MinimumGpus);
        Assert.Equal(spans, shape.SpansMoreGpusThanNeeded);
        Assert.All(shape.PerGpu, s => Assert.Same(plan.Gpus[s.Gpu.Index], s.Gpu));
    }

    public static TheoryData<string> UnknownIds() => new()
    {
        "nvidia0",
        "",
        $"{MetaDeviceId.Prefix}0-5",                          // no UUID
        $"{MetaDeviceId.Prefix}0-5-GPU-not-in-the-plan",      // unknown UUID
        $"{MetaDeviceId.Prefix}0-100-{Uuid(0)}",              // share index ≥ N
        $"{MetaDeviceId.Prefix}1-5-{Uuid(0)}",                // index of another GPU
        $"{MetaDeviceId.Prefix}0-05-{Uuid(0)}",               // not spelled as advertised
        $"{MetaDeviceId.Prefix}2-5-{Uuid(2)}",                // a GPU of a bigger plan
    };

    [Theory]
    [MemberData(nameof(UnknownIds))]
    public void UnknownId_Throws_NamingIt(string unknown)
    {
        var plan = Plan(2);
        string[] ids = [Id(plan, 0, 1), unknown, "also-unknown", Id(plan, 1, 3)];
        var e = Assert.Throws<UnknownDeviceException>(() => AllocationPolicy.Describe(plan, ids));
        Assert.Equal(unknown, e.DeviceId);
        Assert.Equal(Resource, e.ResourceName);
        Assert.Contains($"'{unknown}'", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void DuplicateId_ThrowsDuplicateDeviceExceptionWithOurOwnWords()
    {
        var plan = Plan(2);
        string[] ids = [Id(plan, 0, 1), Id(plan, 1, 1), Id(plan, 0, 1)];
        var e = Assert.Throws<DuplicateDeviceException>(() => AllocationPolicy.Describe(plan, ids));
        Assert.Equal(Id(plan, 0, 1), e.DeviceId);
        // Our own sentence only: an ArgumentException's "(Parameter 'ids')" becomes a bare resource key
        // (Arg_ParamName_Name) in the trimmed binary.
        Assert.Equal($"'{Id(plan, 0, 1)}' occurs more than once in the request for {Resource}", e.Message);
    }
}
