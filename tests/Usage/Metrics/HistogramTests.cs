using System.Buffers;
using System.Text;
using MetaGpu.Usage.Metrics;

namespace MetaGpu.Tests.Usage.Metrics;

public class HistogramTests
{
    private static string Render(Histogram h, params Label[] labels)
    {
        var buffer = new ArrayBufferWriter<byte>();
        h.Write(new PrometheusTextWriter(buffer), "rpc_seconds", labels);
        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    [Fact]
    public void Buckets_are_cumulative_with_le_last_and_inf_equal_to_count()
    {
        var h = new Histogram([0.001, 0.01, 0.1, 1]);
        foreach (var v in new[] { 0.0005, 0.001, 0.005, 0.05, 0.05, 2.5 })
            h.Observe(v);
        Assert.Equal(
            "rpc_seconds_bucket{method=\"Allocate\",le=\"0.001\"} 2\n" + // 0.001 is "less than or equal"
            "rpc_seconds_bucket{method=\"Allocate\",le=\"0.01\"} 3\n" +
            "rpc_seconds_bucket{method=\"Allocate\",le=\"0.1\"} 5\n" +
            "rpc_seconds_bucket{method=\"Allocate\",le=\"1\"} 5\n" +
            "rpc_seconds_bucket{method=\"Allocate\",le=\"+Inf\"} 6\n" +
            "rpc_seconds_sum{method=\"Allocate\"} 2.6065\n" +
            "rpc_seconds_count{method=\"Allocate\"} 6\n",
            Render(h, new Label("method", "Allocate")));
    }

    [Fact]
    public void Without_labels_le_is_the_only_label()
    {
        var h = new Histogram([1000000]);
        h.Observe(3);
        Assert.Equal(
            "rpc_seconds_bucket{le=\"1000000\"} 1\nrpc_seconds_bucket{le=\"+Inf\"} 1\nrpc_seconds_sum 3\nrpc_seconds_count 1\n",
            Render(h));
    }

    [Fact]
    public void NaN_is_not_counted_and_does_not_poison_the_sum()
    {
        var h = new Histogram([1]);
        h.Observe(double.NaN);
        h.Observe(0.5);
        Assert.Equal(1, h.Count);
        Assert.Equal(0.5, h.Sum);
    }

    [Theory]
    [InlineData(new[] { 1.0, 1.0 })]
    [InlineData(new[] { 2.0, 1.0 })]
    [InlineData(new[] { 1.0, double.PositiveInfinity })]
    [InlineData(new[] { double.NaN })]
    public void Bounds_must_be_finite_and_strictly_increasing(double[] bounds)
    {
        Assert.Throws<ArgumentException>(() => new Histogram(bounds));
    }

    [Fact]
    public void An_le_label_of_the_caller_is_refused()
    {
        Assert.Throws<ArgumentException>(() => Render(new Histogram([1]), new Label("le", "x")));
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        Assert.Throws<ArgumentException>(() => new Histogram([1]).Write(new PrometheusTextWriter(buffer), "h", LabelSet.Of([new("a", "1"), new("le", "x")])));
        Assert.Equal(0, buffer.WrittenCount);
    }

    [Fact]
    public async Task Concurrent_observations_are_all_counted_and_summed()
    {
        var h = new Histogram([10, 100, 1000]);
        const int threads = 4, each = 200_000;
        using var go = new ManualResetEventSlim();
        var workers = Enumerable.Range(0, threads).Select(t => Task.Factory.StartNew(() =>
        {
            go.Wait();
            for (var i = 0; i < each; i++)
                h.Observe(i % 2000); // whole numbers: the sum is exact in a double
        }, TaskCreationOptions.LongRunning)).ToArray();
        // Scrapes while observing: +Inf always equals _count.
        var scraper = Task.Run(() =>
        {
            for (var i = 0; i < 200; i++)
            {
                var lines = Render(h).Split('\n');
                var inf = lines.Single(l => l.Contains("+Inf")).Split(' ')[1];
                var count = lines.Single(l => l.StartsWith("rpc_seconds_count")).Split(' ')[1];
                Assert.Equal(inf, count);
            }
        });
        go.Set();
        await Task.WhenAll(workers);
        await scraper;
        Assert.Equal(threads * each, h.Count);
        var perThread = (each / 2000) * (1999.0 * 2000 / 2);
        Assert.Equal(threads * perThread, h.Sum);
        var text = Render(h);
        // Of each 2000 values 0..1999: 11 are <= 10, 101 are <= 100, 1001 are <= 1000.
        Assert.Contains($"rpc_seconds_bucket{{le=\"10\"}} {threads * (each / 2000) * 11}\n", text);
        Assert.Contains($"rpc_seconds_bucket{{le=\"100\"}} {threads * (each / 2000) * 101}\n", text);
        Assert.Contains($"rpc_seconds_bucket{{le=\"1000\"}} {threads * (each / 2000) * 1001}\n", text);
    }
}
