using MetaGpu.DevicePlugin;
using MetaGpu.DevicePlugin.Config;
using static MetaGpu.DevicePlugin.Config.AllocationPolicyKind;
using static MetaGpu.Tests.DevicePlugin.AllocationTestSupport;

namespace MetaGpu.Tests.DevicePlugin;

/// <summary>Worked examples of <see cref="AllocationPolicy.Preferred"/>; specs are described in
/// <see cref="AllocationTestSupport"/> ("0:30-99" = shares 30..99 of GPU 0).</summary>
public class AllocationPolicyTests
{
    private static string Prefer(ResourcePlan plan, string available, int size, AllocationPolicyKind policy, string must = "") =>
        Spec(AllocationPolicy.Preferred(plan, Ids(plan, available), Ids(plan, must), size, policy));

    [Theory]
    //          policy  available (free)      size  expected
    [InlineData(Packed, "0:0-99 1:0-99",        30, "0:0-29")]   // empty node: first GPU, lowest shares
    [InlineData(Spread, "0:0-99 1:0-99",        30, "0:0-29")]
    [InlineData(Packed, "0:30-99 1:0-99",       50, "0:30-79")]  // GPU0 70 free, GPU1 100: best fit is GPU0
    [InlineData(Spread, "0:30-99 1:0-99",       50, "1:0-49")]   // ... spread takes the emptiest
    [InlineData(Packed, "0:30-99 1:0-99",       80, "1:0-79")]   // only GPU1 holds 80
    [InlineData(Spread, "0:30-99 1:0-99",       80, "1:0-79")]
    [InlineData(Packed, "0:30-99 1:0-99",      100, "1:0-99")]   // exactly one whole GPU
    [InlineData(Packed, "0:0-99 1:0-99",       150, "0:0-99 1:0-49")]
    [InlineData(Packed, "0:0-9 0:50-99 1:0-99", 40, "0:0-9 0:50-79")]  // GPU0 (60 free, with a hole) is the best fit; lowest shares first
    public void TwoGpus(AllocationPolicyKind policy, string available, int size, string expected) =>
        Assert.Equal(expected, Prefer(Plan(2), available, size, policy));

    [Theory]
    //          policy  GPU0 60 free, GPU1 100, GPU2 80   size  expected
    [InlineData(Packed, "0:40-99 1:0-99 2:20-99",           150, "0:40-89 1:0-99")]  // whole GPU1 + 50 best fit (GPU0)
    [InlineData(Spread, "0:40-99 1:0-99 2:20-99",           150, "1:0-99 2:20-69")]  // whole GPU1 + 50 on the emptiest
    [InlineData(Packed, "0:40-99 1:0-99 2:20-99",            70, "2:20-89")]         // 70: GPU2 (80) is the best fit
    [InlineData(Spread, "0:40-99 1:0-99 2:20-99",            70, "1:0-69")]
    [InlineData(Packed, "0:0-99 1:0-99 2:0-99",             250, "0:0-99 1:0-99 2:0-49")]
    public void WholeGpusPlusFraction(AllocationPolicyKind policy, string available, int size, string expected) =>
        Assert.Equal(expected, Prefer(Plan(3), available, size, policy));

    [Theory]
    //          policy  NUMA of GPU 0..3   available                        size  expected
    [InlineData(Packed, "0 1 0 1",          "0:0-99 1:0-99 2:0-99 3:0-99",   200, "0:0-99 2:0-99")]  // not GPUs 0+1
    [InlineData(Spread, "0 1 0 1",          "0:0-99 1:0-99 2:0-99 3:0-99",   200, "0:0-99 2:0-99")]
    [InlineData(Packed, "1 0 1 0",          "0:0-99 1:0-99 2:0-99 3:0-99",   200, "0:0-99 2:0-99")]
    [InlineData(Packed, "0 1 1 0",          "0:0-99 1:0-99 2:0-99",          200, "1:0-99 2:0-99")]  // node 0 has one free GPU
    // Whole GPU on the node of the best-fit fraction: GPU3 (node 1, 40 free) takes the 30, so the whole GPU is GPU2.
    [InlineData(Packed, "0 0 1 1",          "0:0-99 2:0-99 3:60-99",         130, "2:0-99 3:60-89")]
    // No node has two free GPUs: take them across nodes, lowest index.
    [InlineData(Packed, "0 0 1 1",          "0:0-99 2:0-99",                 200, "0:0-99 2:0-99")]
    // Equally good fractions: the one on the whole GPUs' node.
    [InlineData(Packed, "0 1 1 1",          "0:50-99 1:0-99 2:0-99 3:50-99", 250, "1:0-99 2:0-99 3:50-99")]
    public void NumaLocality(AllocationPolicyKind policy, string numa, string available, int size, string expected)
    {
        var plan = Plan(numa.Split(' ').Select(n => (100, (int?)int.Parse(n, System.Globalization.CultureInfo.InvariantCulture))).ToArray());
        Assert.Equal(expected, Prefer(plan, available, size, policy));
    }

    [Theory]
    //          policy  NUMA     available                must       size  expected
    [InlineData(Packed, "0 0",   "0:0-99 1:0-99",         "0:0-9",      30, "0:0-29")]          // the rest next to them
    [InlineData(Spread, "0 0",   "0:0-99 1:0-99",         "0:0-9",      30, "0:0-29")]
    [InlineData(Spread, "0 0",   "0:20-99 1:50-99",       "1:50-59",    40, "1:50-89")]         // not GPU0 though emptier
    [InlineData(Packed, "0 0",   "0:0-99 1:0-99",         "1:7",       101, "0:0-99 1:7")]      // must counts towards size
    [InlineData(Packed, "0 1 1", "0:0-99 1:0-99 2:0-99",  "1:0-9",     110, "1:0-9 2:0-99")]    // whole GPU on must's node
    [InlineData(Packed, "0 0 0", "0:0-99 1:0-99 2:0-99",  "0:0-49",    170, "0:0-69 1:0-99")]   // whole GPU1, the 20 next to must on GPU0
    [InlineData(Packed, "0 0 0", "0:0-99 1:0-99 2:0-99",  "0:0-9 1:0-9", 100, "0:0-89 1:0-9")]  // fits on the touched GPUs
    [InlineData(Packed, "0 0",   "0:0-99 1:0-99",         "1:3 0:5 0:1", 2, "0:1 0:5")]         // more must than size: first in canonical order
    [InlineData(Packed, "0 0",   "0:10-99",               "0:5 0:10",    2, "0:10-11")]         // must that is not available is ignored
    public void MustInclude(AllocationPolicyKind policy, string numa, string available, string must, int size, string expected)
    {
        var plan = Plan(numa.Split(' ').Select(n => (100, (int?)int.Parse(n, System.Globalization.CultureInfo.InvariantCulture))).ToArray());
        Assert.Equal(expected, Prefer(plan, available, size, policy, must));
    }

    [Theory]
    //          policy  free: GPU0 40, GPU1 70, GPU2 50, GPU3 20   size  expected
    [InlineData(Packed, "0:60-99 1:30-99 2:50-99 3:80-99",           90, "1:30-99 3:80-99")]         // 70 largest, 20 best fit
    [InlineData(Spread, "0:60-99 1:30-99 2:50-99 3:80-99",           90, "1:30-99 3:80-99")]
    [InlineData(Packed, "0:60-99 1:30-99 2:50-99 3:80-99",          150, "0:60-89 1:30-99 2:50-99")] // 70, 50, then 30 on the 40
    [InlineData(Packed, "0:60-99 1:30-99 2:50-99 3:80-99",           75, "1:30-99 3:80-84")]         // 70, then 5 on the smallest
    [InlineData(Packed, "0:60-99 1:30-99 2:50-99 3:80-99",          180, "0:60-99 1:30-99 2:50-99 3:80-99")]
    public void SpillLargestFirstThenBestFit(AllocationPolicyKind policy, string available, int size, string expected) =>
        Assert.Equal(expected, Prefer(Plan(4), available, size, policy));

    [Fact]
    public void Spill_WhenNotEnoughWholeGpus()
    {
        // GPU | free          request 200: only one GPU is completely free
        // 0   | 0..99 (100)
        // 1   | 10..99 (90)
        // 2   | 50..99 (50)
        var plan = Plan(3);
        Assert.Equal("0:0-99 1:10-99 2:50-59", Prefer(plan, "0:0-99 1:10-99 2:50-99", 200, Packed));
    }

    [Theory]
    //          policy  N/NUMA of GPUs       available                     size  expected
    [InlineData(Packed, "200 100 50",         "0:0-199 1:0-99 2:0-49",     250, "0:0-199 2:0-49")]   // whole 200 + best fit
    [InlineData(Spread, "200 100 50",         "0:0-199 1:0-99 2:0-49",     250, "0:0-199 1:0-49")]
    [InlineData(Packed, "200 100 50",         "0:0-199 1:0-99 2:0-49",     150, "0:0-149")]          // fits the big GPU
    [InlineData(Packed, "200 100 50",         "1:0-99 2:0-49",             120, "1:0-99 2:0-19")]    // N 100 now
    [InlineData(Packed, "200 100 50",         "0:50-199 1:0-99 2:0-49",    200, "0:50-199 2:0-49")]  // no free 200: spill
    public void DifferentMetaGpuCounts(AllocationPolicyKind policy, string ns, string available, int size, string expected)
    {
        var plan = Plan(ns.Split(' ').Select(n => (int.Parse(n, System.Globalization.CultureInfo.InvariantCulture), (int?)null)).ToArray());
        Assert.Equal(expected, Prefer(plan, available, size, policy));
    }

    [Fact]
    public void ForeignUnknownAndDuplicateIds_AreIgnored()
    {
        var plan = Plan(2);
        var other = Plan(3); // same UUIDs for GPUs 0 and 1, but its GPU 2 is not in our plan
        string[] available =
        [
            .. Ids(plan, "0:0-9"),
            .. Ids(plan, "0:0-9"),             // every ID twice
            .. Ids(plan, "1:0-9"),
            .. Ids(other, "2:0-99"),           // a GPU of another plan
            $"{MetaDeviceId.Prefix}1-0-{Uuid(0)}", // GPU 0's UUID under index 1
            $"{MetaDeviceId.Prefix}0-100-{Uuid(0)}", // share index ≥ N
            $"{MetaDeviceId.Prefix}0-011-{Uuid(0)}", // not spelled as advertised
            $"{MetaDeviceId.Prefix}0-12",
            "nvidia0",
            "",
        ];
        var answer = AllocationPolicy.Preferred(plan, available, [], 15, Packed);
        Assert.Equal("0:0-9 1:0-4", Spec(answer)); // 10 + 5: no GPU has 15 usable
        Assert.Equal("0:0-9 1:0-9", Spec(AllocationPolicy.Preferred(plan, available, [], 1000, Packed)));
        Assert.Equal("0:0-9 1:0-9", Spec(AllocationPolicy.Preferred(plan, available, [], 20, Spread)));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    [InlineData(int.MinValue)]
    public void NonPositiveSize_IsEmpty(int size)
    {
        var plan = Plan(2);
        Assert.Empty(AllocationPolicy.Preferred(plan, Ids(plan, "0:0-99"), Ids(plan, "0:0-1"), size, Packed));
    }

    [Fact]
    public void SizeAboveAvailable_ReturnsAllUsable_InCanonicalOrder()
    {
        var plan = Plan(3);
        string[] available = [.. Ids(plan, "2:5-7 0:90-99 1:0"), "junk"];
        Assert.Equal("0:90-99 1:0 2:5-7", Spec(AllocationPolicy.Preferred(plan, available, [], 50, Spread)));
        Assert.Equal("0:90-99 1:0 2:5-7", Spec(AllocationPolicy.Preferred(plan, available, [], 14, Packed)));
    }

    [Fact]
    public void EmptyPlanOrNothingAvailable_IsEmpty()
    {
        var plan = Plan(2);
        Assert.Empty(AllocationPolicy.Preferred(plan, [], [], 10, Packed));
        Assert.Empty(AllocationPolicy.Preferred(new ResourcePlan(Resource, []), Ids(plan, "0:0-9"), [], 10, Packed));
    }

    [Fact]
    public void OrderOfThePlansGpus_DoesNotMatter()
    {
        var plan = Plan(2);
        var reversed = plan with { Gpus = plan.Gpus.Reverse().ToList() };
        var available = Ids(plan, "0:60-99 1:0-99");
        foreach (var p in new[] { plan, reversed })
        {
            Assert.Equal("0:60-89", Spec(AllocationPolicy.Preferred(p, available, [], 30, Packed)));
            Assert.Equal("1:0-49", Spec(AllocationPolicy.Preferred(p, available, [], 50, Packed)));
        }
    }
}
