using MetaGpu.DevicePlugin;
using MetaGpu.DevicePlugin.Allocations;
using static MetaGpu.Tests.DevicePlugin.AllocationTestSupport;

namespace MetaGpu.Tests.DevicePlugin;

/// <summary>The allocation records a plan keeps per set of meta-devices (<see cref="PlanIndex.RecordOf"/>).</summary>
public class PlanIndexRecordTests
{
    private static AllocationRecord RecordOf(ResourcePlan plan, string[] ids)
    {
        var shape = AllocationPolicy.Describe(plan, ids, out var positions);
        return PlanIndex.Of(plan).RecordOf(Resource, positions, shape);
    }

    [Theory]
    [InlineData("100 100", "0:0-29")]
    [InlineData("100 100", "0:90-99 1:0-19")]
    [InlineData("50 0 100", "0:40-49 2:0-9")] // a GPU with no meta-devices between two that have some
    [InlineData("10 10 10", "2:9 0:0 1:5")]
    public void IsTheRecordOfTheRequestsIdsWhateverTheirOrder(string ns, string spec)
    {
        var plan = Plan(ns.Split(' ').Select(n => (int.Parse(n, System.Globalization.CultureInfo.InvariantCulture), (int?)0)).ToArray());
        var ids = Ids(plan, spec);
        var fresh = AllocationRecord.Create(Resource, ids, AllocationPolicy.Describe(plan, ids));
        var first = RecordOf(plan, ids);
        Assert.Equal(fresh, first);
        Assert.Same(first, RecordOf(plan, ids.Reverse().ToArray()));
        Assert.Same(first, RecordOf(plan, ids.Select(id => new string(id.AsSpan())).ToArray())); // equal text, other strings
    }

    [Fact]
    public void KeepsThePlansIdStringsNotTheRequests()
    {
        var plan = Plan(2);
        var ids = Ids(plan, "1:3-9").Select(id => new string(id.AsSpan())).ToArray();
        var record = RecordOf(plan, ids);
        var advertised = PlanIndex.Of(plan).Ids.SelectMany(x => x).ToHashSet(ReferenceEqualityComparer.Instance);
        Assert.All(record.DeviceIds, id => Assert.Contains(id, advertised));
        Assert.All(record.DeviceIds, id => Assert.DoesNotContain(ids, r => ReferenceEquals(r, id)));
    }

    [Fact]
    public void EachPlanHasItsOwnRecordsAndTheCacheStaysBounded()
    {
        var small = Plan(2, 10);
        var big = Plan(2, 20); // other meta-device counts: another share, another memory limit
        var ids = Ids(small, "0:0-4");
        Assert.NotEqual(RecordOf(small, ids).Gpus[0].MetaGpus, RecordOf(big, Ids(big, "0:0-4")).Gpus[0].MetaGpus);

        // Far more distinct sets than the cache keeps: every answer is still the record of its own IDs.
        var plan = Plan(8, 100);
        var random = new Random(7);
        for (var i = 0; i < PlanIndex.MaxRecords * 2 + 10; i++)
        {
            var gpu = random.Next(8);
            var start = random.Next(90);
            var set = Ids(plan, $"{gpu}:{start}-{start + random.Next(10)}");
            Assert.Equal(AllocationRecord.Create(Resource, set, AllocationPolicy.Describe(plan, set)), RecordOf(plan, set));
        }
    }

    [Fact]
    public void PositionsAreAscendingOnePerIdAndDistinctAcrossGpus()
    {
        var plan = Plan(3, 7);
        var ids = Ids(plan, "2:6 0:0 1:3 0:6 2:0");
        AllocationPolicy.Describe(plan, ids, out var positions);
        Assert.Equal([0, 6, 10, 14, 20], positions);
    }
}
