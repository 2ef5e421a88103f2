namespace MetaGpu.Usage.Metrics;

/// <summary>
/// A sample's labels made ready once and written many times: names checked, values escaped and encoded as UTF-8
/// (<c>a="x",b="y"</c>, without braces) when the set is made, so writing one is a copy. A process's labels, shared
/// by its seven families and kept for as long as the view it comes from, are the case this is for.
/// </summary>
public sealed class LabelSet
{
    public static readonly LabelSet Empty = new([], 0, false);

    private LabelSet(byte[] utf8, int count, bool hasLe)
    {
        Utf8 = utf8;
        Count = count;
        HasLe = hasLe;
    }

    /// <summary>Whether one of the labels is <c>le</c>, which a histogram's buckets add themselves.</summary>
    internal bool HasLe { get; }

    /// <summary>The labels as they appear between the braces.</summary>
    internal byte[] Utf8 { get; }

    /// <summary>How many labels the set holds.</summary>
    public int Count { get; }

    /// <summary>
    /// Checks and renders <paramref name="labels"/>; a bad name, a missing value or a name given twice throws
    /// <see cref="ArgumentException"/> here, as <see cref="PrometheusTextWriter.Sample(string, ReadOnlySpan{Label}, double)"/> would.
    /// </summary>
    public static LabelSet Of(ReadOnlySpan<Label> labels)
    {
        if (labels.Length == 0)
            return Empty;
        PrometheusTextWriter.CheckLabels(labels, withLe: false);
        var bound = PrometheusTextWriter.LabelsBound(labels);
        Span<byte> scratch = bound <= 1024 ? stackalloc byte[1024] : new byte[bound];
        var n = PrometheusTextWriter.PutLabels(labels, scratch);
        var hasLe = false;
        foreach (var l in labels)
            hasLe |= l.Name == "le";
        return new LabelSet(scratch[..n].ToArray(), labels.Length, hasLe);
    }

    public override string ToString() => System.Text.Encoding.UTF8.GetString(Utf8);
}
