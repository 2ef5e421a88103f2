using MetaGpu.Primitives;

namespace MetaGpu.Tests.Primitives;

public sealed class StableSortTests
{
    private sealed record Item(int Key, int Seq);

    [Fact]
    public void SortsLikeOrderByKeepingEqualKeysInTheirOriginalOrder()
    {
        var random = new Random(11);
        for (var round = 0; round < 200; round++)
        {
            var items = new List<Item>();
            var count = random.Next(0, 40);
            for (var i = 0; i < count; i++)
                items.Add(new Item(random.Next(0, 5), i));
            var expected = items.OrderBy(x => x.Key).ToList();

            StableSort.Sort(items, (a, b) => a.Key.CompareTo(b.Key));

            Assert.Equal(expected, items);
        }
    }

    [Fact]
    public void ADescendingComparisonKeepsTiesInOrderToo()
    {
        var items = new List<Item> { new(1, 0), new(3, 1), new(1, 2), new(3, 3), new(2, 4) };

        StableSort.Sort(items, (a, b) => b.Key.CompareTo(a.Key));

        Assert.Equal([new(3, 1), new(3, 3), new(2, 4), new(1, 0), new(1, 2)], items);
    }
}
