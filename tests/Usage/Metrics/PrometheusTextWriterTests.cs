using System.Buffers;
using System.Text;
using MetaGpu.Usage.Metrics;

namespace MetaGpu.Tests.Usage.Metrics;

public class PrometheusTextWriterTests
{
    private static string Render(Action<PrometheusTextWriter> write)
    {
        var buffer = new ArrayBufferWriter<byte>();
        write(new PrometheusTextWriter(buffer));
        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    [Fact]
    public void Family_writes_help_and_type_lines()
    {
        var text = Render(w =>
        {
            w.Family("metagpu_device_shares", "Meta-devices per GPU.", MetricType.Gauge);
            w.Family("metagpu_kubelet_registrations_total", "Registrations.", MetricType.Counter);
            w.Family("metagpu_rpc_duration_seconds", "RPC latency.", MetricType.Histogram);
        });
        Assert.Equal(
            "# HELP metagpu_device_shares Meta-devices per GPU.\n# TYPE metagpu_device_shares gauge\n" +
            "# HELP metagpu_kubelet_registrations_total Registrations.\n# TYPE metagpu_kubelet_registrations_total counter\n" +
            "# HELP metagpu_rpc_duration_seconds RPC latency.\n# TYPE metagpu_rpc_duration_seconds histogram\n", text);
    }

    [Fact]
    public void Help_escapes_backslash_and_newline_but_not_quotes()
    {
        var text = Render(w => w.Family("m", "a\\b\nc \"q\"", MetricType.Gauge));
        Assert.StartsWith("# HELP m a\\\\b\\nc \"q\"\n", text);
    }

    [Fact]
    public void Sample_without_labels_has_no_braces()
    {
        Assert.Equal("up 1\n", Render(w => w.Sample("up", [], 1)));
    }

    [Fact]
    public void Label_values_escape_backslash_quote_and_newline_and_keep_utf8()
    {
        var text = Render(w => w.Sample("m", [new("pod", "a\"b\\c\nd"), new("container", "grüße-日本")], 2));
        Assert.Equal("m{pod=\"a\\\"b\\\\c\\nd\",container=\"grüße-日本\"} 2\n", text);
    }

    [Fact]
    public void A_lone_surrogate_becomes_the_replacement_character_so_the_output_stays_utf8()
    {
        var buffer = new ArrayBufferWriter<byte>();
        new PrometheusTextWriter(buffer).Sample("m", [new("v", "x\ud800\"y")], 1);
        var strict = new UTF8Encoding(false, throwOnInvalidBytes: true);
        Assert.Equal("m{v=\"x\ufffd\\\"y\"} 1\n", strict.GetString(buffer.WrittenSpan));
    }

    [Theory]
    [InlineData(0.0, "0")]
    [InlineData(1.0, "1")]
    [InlineData(-42.0, "-42")]
    [InlineData(85899345920.0, "85899345920")] // 80 GiB in bytes: no exponent
    [InlineData(1e18, "1000000000000000000")]
    [InlineData(0.5, "0.5")]
    [InlineData(0.1, "0.1")]
    [InlineData(1.0 / 3, "0.3333333333333333")]
    [InlineData(1e-7, "1E-07")]
    [InlineData(1e300, "1E+300")]
    [InlineData(double.PositiveInfinity, "+Inf")]
    [InlineData(double.NegativeInfinity, "-Inf")]
    [InlineData(double.NaN, "NaN")]
    public void Values_are_invariant_and_round_trip(double value, string expected)
    {
        Assert.Equal($"m {expected}\n", Render(w => w.Sample("m", [], value)));
        if (double.IsFinite(value))
            Assert.Equal(value, double.Parse(expected, System.Globalization.CultureInfo.InvariantCulture));
    }

    [Fact]
    public void Negative_zero_is_zero()
    {
        Assert.Equal("m 0\n", Render(w => w.Sample("m", [], -0.0)));
    }

    [Fact]
    public void Values_do_not_follow_the_current_culture()
    {
        var saved = System.Globalization.CultureInfo.CurrentCulture;
        try
        {
            System.Globalization.CultureInfo.CurrentCulture = new System.Globalization.CultureInfo("de-DE");
            Assert.Equal("m 1.5\n", Render(w => w.Sample("m", [], 1.5)));
        }
        catch (System.Globalization.CultureNotFoundException)
        {
            // Invariant-globalization hosts have only the invariant culture; there is nothing to leak.
        }
        finally
        {
            System.Globalization.CultureInfo.CurrentCulture = saved;
        }
    }

    [Theory]
    [InlineData("")]
    [InlineData("1abc")]
    [InlineData("a-b")]
    [InlineData("a b")]
    [InlineData("a{b")]
    [InlineData("grüße")]
    [InlineData("a\nb")]
    public void Bad_metric_names_throw_and_write_nothing(string name)
    {
        var buffer = new ArrayBufferWriter<byte>();
        var w = new PrometheusTextWriter(buffer);
        Assert.Throws<ArgumentException>(() => w.Sample(name, [], 1));
        Assert.Throws<ArgumentException>(() => w.Family(name, "h", MetricType.Gauge));
        Assert.Equal(0, buffer.WrittenCount);
    }

    [Theory]
    [InlineData("")]
    [InlineData("0x")]
    [InlineData("a:b")]
    [InlineData("a-b")]
    [InlineData("__name__")]
    [InlineData("a\"")]
    public void Bad_label_names_throw_and_write_nothing(string name)
    {
        var buffer = new ArrayBufferWriter<byte>();
        Assert.Throws<ArgumentException>(() => new PrometheusTextWriter(buffer).Sample("m", [new(name, "v")], 1));
        Assert.Equal(0, buffer.WrittenCount);
    }

    [Fact]
    public void A_label_twice_or_without_value_throws()
    {
        var buffer = new ArrayBufferWriter<byte>();
        var w = new PrometheusTextWriter(buffer);
        Assert.Throws<ArgumentException>(() => w.Sample("m", [new("a", "1"), new("b", "2"), new("a", "3")], 1));
        Assert.Throws<ArgumentException>(() => w.Sample("m", [new("a", null!)], 1));
        Assert.Equal(0, buffer.WrittenCount);
    }

    [Fact]
    public void Long_values_of_escapes_and_wide_characters_fit_the_line()
    {
        var nasty = string.Concat(Enumerable.Repeat("\"\\\n日😀\ud800", 2000));
        var buffer = new ArrayBufferWriter<byte>(16); // grows as asked, never more
        var w = new PrometheusTextWriter(buffer);
        w.Family("m", nasty, MetricType.Gauge);
        w.Sample("m", [new("a", nasty), new("b", nasty)], 1);
        var text = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(buffer.WrittenSpan);
        var escaped = string.Concat(Enumerable.Repeat("\\\"\\\\\\n日😀\ufffd", 2000));
        Assert.EndsWith($"m{{a=\"{escaped}\",b=\"{escaped}\"}} 1\n", text);
    }

    [Fact]
    public void Names_with_colons_and_underscores_are_metric_names()
    {
        Assert.Equal("_a:b_1 1\n", Render(w => w.Sample("_a:b_1", [], 1)));
    }

    /// <summary>
    /// The scrape path allocates nothing per sample: 600 samples with 7 labels into a reused buffer.
    /// (The figure per scrape is printed by bench/MetaGpu.Bench --scrape.)
    /// </summary>
    [Fact]
    public void Writing_samples_into_a_reused_buffer_allocates_nothing_per_sample()
    {
        var labels = new Label[]
        {
            new("uuid", "GPU-4b3c8b2e-5b6f-4f41-9f63-0123456789ab"), new("device_index", "3"), new("resource", "metagpu.io/gpu"),
            new("namespace", "team-a"), new("pod", "trainer-7d9f8c6b5-x2x4z"), new("container", "main"), new("pid", "123456"),
        };
        var buffer = new ArrayBufferWriter<byte>(1 << 20);
        void Scrape()
        {
            buffer.ResetWrittenCount();
            var w = new PrometheusTextWriter(buffer);
            w.Family("metagpu_process_memory_usage_bytes", "Memory.", MetricType.Gauge);
            for (var i = 0; i < 600; i++)
                w.Sample("metagpu_process_memory_usage_bytes", labels, i * 1048576.5);
        }
        Scrape();
        var before = GC.GetAllocatedBytesForCurrentThread();
        Scrape();
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.True(allocated < 200, $"one scrape of 600 samples allocated {allocated} bytes");
    }

    /// <summary>Labels made ready once write exactly what the same labels write each time: escapes, UTF-8, replacement characters.</summary>
    [Fact]
    public void A_label_set_writes_the_same_bytes_as_the_labels_it_was_made_of()
    {
        var random = new Random(20261201);
        string Value()
        {
            var chars = new char[random.Next(0, 40)];
            for (var i = 0; i < chars.Length; i++)
                chars[i] = random.Next(6) switch { 0 => '"', 1 => '\\', 2 => '\n', 3 => (char)random.Next(0xd800, 0xe000), 4 => (char)random.Next(0x80, 0x3000), _ => (char)random.Next(0x20, 0x7f) };
            return new string(chars);
        }
        for (var round = 0; round < 500; round++)
        {
            var labels = Enumerable.Range(0, random.Next(0, 8)).Select(i => new Label($"l{i}", Value())).ToArray();
            var set = LabelSet.Of(labels);
            Assert.Equal(labels.Length, set.Count);
            Assert.Equal(Render(w => w.Sample("m", labels, round * 0.5)), Render(w => w.Sample("m", set, round * 0.5)));
        }
    }

    [Fact]
    public void A_label_set_is_checked_when_it_is_made()
    {
        Assert.Throws<ArgumentException>(() => LabelSet.Of([new("a-b", "v")]));
        Assert.Throws<ArgumentException>(() => LabelSet.Of([new("__name__", "v")]));
        Assert.Throws<ArgumentException>(() => LabelSet.Of([new("a", "1"), new("a", "2")]));
        Assert.Throws<ArgumentException>(() => LabelSet.Of([new("a", null!)]));
        Assert.Same(LabelSet.Empty, LabelSet.Of([]));
    }

    /// <summary>The writer checks a family's name once, but any other name is still checked on its own sample.</summary>
    [Theory]
    [InlineData("")]
    [InlineData("1abc")]
    [InlineData("a b")]
    [InlineData("a{b")]
    public void Bad_metric_names_throw_with_a_label_set_too(string name)
    {
        var buffer = new ArrayBufferWriter<byte>();
        var w = new PrometheusTextWriter(buffer);
        w.Family("good", "h", MetricType.Gauge);
        w.Sample("good", LabelSet.Empty, 1);
        var written = buffer.WrittenCount;
        Assert.Throws<ArgumentException>(() => w.Sample(name, LabelSet.Of([new("a", "b")]), 1));
        Assert.Equal(written, buffer.WrittenCount);
        w.Sample("good", LabelSet.Empty, 2);
        Assert.EndsWith("good 1\ngood 2\n", Encoding.UTF8.GetString(buffer.WrittenSpan));
    }

    [Fact]
    public void Writing_label_set_samples_into_a_reused_buffer_allocates_nothing()
    {
        var set = LabelSet.Of([new("uuid", "GPU-4b3c8b2e-5b6f-4f41-9f63-0123456789ab"), new("device_index", "3"), new("pid", "123456")]);
        var buffer = new ArrayBufferWriter<byte>(1 << 20);
        void Scrape()
        {
            buffer.ResetWrittenCount();
            var w = new PrometheusTextWriter(buffer);
            w.Family("metagpu_process_memory_usage", "Memory.", MetricType.Gauge);
            for (var i = 0; i < 600; i++)
                w.Sample("metagpu_process_memory_usage", set, i * 1.5);
        }
        Scrape();
        var before = GC.GetAllocatedBytesForCurrentThread();
        Scrape();
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.True(allocated < 200, $"one scrape of 600 samples allocated {allocated} bytes");
    }
}
