namespace MetaGpu.Usage.Metrics;

/// <summary>
/// A Prometheus histogram: counts of observations at or below each upper bound, their sum and count. Observe is
/// lock-free and safe from any thread (one Interlocked increment, and a compare-and-swap on the sum's bits);
/// <see cref="Write"/> may run at the same time and writes cumulative buckets whose <c>+Inf</c> bucket equals
/// <c>_count</c>, as Prometheus requires.
/// </summary>
public sealed class Histogram
{
    private readonly double[] _bounds;
    private readonly string[] _le;
    // Per bucket, not cumulative: _counts[i] holds observations in (bound[i-1], bound[i]]; the last one is +Inf's.
    private readonly long[] _counts;
    private long _sumBits;

    /// <param name="upperBounds">Finite, strictly increasing upper bounds; the <c>+Inf</c> bucket is added.</param>
    public Histogram(double[] upperBounds)
    {
        ArgumentNullException.ThrowIfNull(upperBounds);
        for (var i = 0; i < upperBounds.Length; i++)
        {
            if (!double.IsFinite(upperBounds[i]))
                throw new ArgumentException($"histogram bound {i} is {upperBounds[i]}: bounds must be finite (+Inf is added)", nameof(upperBounds));
            if (i > 0 && upperBounds[i] <= upperBounds[i - 1])
                throw new ArgumentException($"histogram bounds must increase strictly (bound {i} is {upperBounds[i]} after {upperBounds[i - 1]})", nameof(upperBounds));
        }
        _bounds = (double[])upperBounds.Clone();
        _counts = new long[_bounds.Length + 1];
        _le = new string[_bounds.Length];
        Span<byte> text = stackalloc byte[PrometheusTextWriter.MaxValueLength];
        for (var i = 0; i < _bounds.Length; i++)
            _le[i] = System.Text.Encoding.ASCII.GetString(text[..PrometheusTextWriter.FormatValue(_bounds[i], text)]);
    }

    /// <summary>Counts one observation. NaN is ignored: it would turn <c>_sum</c> into NaN for the life of the process.</summary>
    public void Observe(double value)
    {
        if (double.IsNaN(value))
            return;
        // The first bound at or above the value: Prometheus buckets are "less than or equal".
        var i = Array.BinarySearch(_bounds, value);
        if (i < 0)
            i = ~i;
        Interlocked.Increment(ref _counts[i]);
        var seen = Volatile.Read(ref _sumBits);
        while (true)
        {
            var next = BitConverter.DoubleToInt64Bits(BitConverter.Int64BitsToDouble(seen) + value);
            var actual = Interlocked.CompareExchange(ref _sumBits, next, seen);
            if (actual == seen)
                return;
            seen = actual;
        }
    }

    public long Count
    {
        get
        {
            long total = 0;
            foreach (ref var c in _counts.AsSpan())
                total += Volatile.Read(ref c);
            return total;
        }
    }

    public double Sum => BitConverter.Int64BitsToDouble(Volatile.Read(ref _sumBits));

    /// <summary>
    /// Writes <c>name_bucket{labels,le="…"}</c> for every bound and <c>+Inf</c>, then <c>name_sum</c> and
    /// <c>name_count</c>. Call <see cref="PrometheusTextWriter.Family"/> with <see cref="MetricType.Histogram"/>
    /// once before the first label set. <paramref name="labels"/> must not include <c>le</c>.
    /// </summary>
    public void Write(PrometheusTextWriter w, string name, ReadOnlySpan<Label> labels)
    {
        Write(w, name, LabelSet.Of(labels));
    }

    /// <summary>As the other <c>Write</c>, with labels made ready before (they must not include <c>le</c>).</summary>
    public void Write(PrometheusTextWriter w, string name, LabelSet labels)
    {
        ArgumentNullException.ThrowIfNull(w);
        ArgumentNullException.ThrowIfNull(labels);
        long cumulative = 0;
        for (var i = 0; i < _bounds.Length; i++)
        {
            cumulative += Volatile.Read(ref _counts[i]);
            w.Sample(name, "_bucket", labels, _le[i], cumulative);
        }
        cumulative += Volatile.Read(ref _counts[^1]);
        w.Sample(name, "_bucket", labels, "+Inf", cumulative);
        w.Sample(name, "_sum", labels, null, Sum);
        w.Sample(name, "_count", labels, null, cumulative);
    }
}
