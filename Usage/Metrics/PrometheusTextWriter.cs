using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Unicode;

namespace MetaGpu.Usage.Metrics;

/// <summary>
/// Writes the Prometheus text exposition format, version 0.0.4, as UTF-8 straight into a buffer: per family a
/// <c># HELP</c> and a <c># TYPE</c> line, then one <c>name{label="value",…} value</c> line per sample, no timestamps.
/// Nothing is allocated per sample. Metric and label names are ours, so a bad one is a programming error: it throws
/// <see cref="ArgumentException"/> before anything of that line is written, and the output never holds a line a
/// scraper cannot parse. Label values and help text may hold anything; they are escaped, and invalid UTF-16
/// (a lone surrogate) becomes U+FFFD.
/// </summary>
public sealed class PrometheusTextWriter(IBufferWriter<byte> output)
{
    private static readonly SearchValues<char> HelpEscapes = SearchValues.Create("\\\n");
    private static readonly SearchValues<char> LabelEscapes = SearchValues.Create("\\\n\"");

    /// <summary>Starts a family: its <c># HELP</c> and <c># TYPE</c> lines. Its samples follow (for a histogram, <see cref="Histogram.Write"/>).</summary>
    public void Family(string name, string help, MetricType type)
    {
        CheckMetricName(name, "");
        _checkedName = name;
        Ascii("# HELP "u8);
        Ascii(name);
        Ascii(" "u8);
        var helpSpan = output.GetSpan(help.Length * 3 + 1);
        output.Advance(PutEscaped(help, helpSpan, HelpEscapes));
        Ascii("\n# TYPE "u8);
        Ascii(name);
        Ascii(type switch
        {
            MetricType.Gauge => " gauge\n"u8,
            MetricType.Counter => " counter\n"u8,
            MetricType.Histogram => " histogram\n"u8,
            _ => throw new ArgumentOutOfRangeException(nameof(type), type, "not a metric type"),
        });
    }

    // The last metric name checked, so that a family's samples check its name once (names are ours and constant).
    private string? _checkedName;

    /// <summary>One sample line: <c>name{labels} value</c>.</summary>
    public void Sample(string name, ReadOnlySpan<Label> labels, double value) => Sample(name, "", labels, null, value);

    /// <summary>One sample line with labels made ready before (<see cref="LabelSet.Of"/>): the labels are copied, not re-checked.</summary>
    public void Sample(string name, LabelSet labels, double value) => Sample(name, "", labels, null, value);

    /// <summary>A sample of <paramref name="name"/> + <paramref name="suffix"/>, with an optional <c>le</c> label after the others (histograms).</summary>
    internal void Sample(string name, string suffix, ReadOnlySpan<Label> labels, string? le, double value)
    {
        CheckName(name, suffix);
        CheckLabels(labels, le is not null);
        // One span for the whole line: escaping turns one character into two bytes at most, and UTF-8 needs at
        // most three bytes per UTF-16 character, so three bytes per character of a value always suffice.
        var span = output.GetSpan(LineBound(name, suffix, le) + LabelsBound(labels));
        var n = PutAscii(name, span);
        n += PutAscii(suffix, span[n..]);
        if (labels.Length > 0 || le is not null)
        {
            span[n++] = (byte)'{';
            n += PutLabels(labels, span[n..]);
            n += PutLe(le, labels.Length > 0, span[n..]);
            span[n++] = (byte)'}';
        }
        n += PutValue(value, span[n..]);
        output.Advance(n);
    }

    /// <summary>As the other <c>Sample</c>, with labels made ready before.</summary>
    internal void Sample(string name, string suffix, LabelSet labels, string? le, double value)
    {
        ArgumentNullException.ThrowIfNull(labels);
        CheckName(name, suffix);
        if (le is not null && labels.HasLe)
            throw new ArgumentException("a histogram's labels must not include 'le': it names the bucket", nameof(labels));
        var span = output.GetSpan(LineBound(name, suffix, le) + labels.Utf8.Length);
        var n = PutAscii(name, span);
        n += PutAscii(suffix, span[n..]);
        if (labels.Count > 0 || le is not null)
        {
            span[n++] = (byte)'{';
            labels.Utf8.CopyTo(span[n..]);
            n += labels.Utf8.Length;
            n += PutLe(le, labels.Count > 0, span[n..]);
            span[n++] = (byte)'}';
        }
        n += PutValue(value, span[n..]);
        output.Advance(n);
    }

    private void CheckName(string name, string suffix)
    {
        if (suffix.Length == 0 && ReferenceEquals(name, _checkedName))
            return;
        CheckMetricName(name, suffix);
        if (suffix.Length == 0)
            _checkedName = name;
    }

    private static int LineBound(string name, string suffix, string? le) =>
        name.Length + suffix.Length + 2 + (le is null ? 0 : le.Length + 6) + MaxValueLength + 2;

    /// <summary>Bytes <see cref="PutLabels"/> may need at most.</summary>
    internal static int LabelsBound(ReadOnlySpan<Label> labels)
    {
        var bound = 0;
        foreach (var l in labels)
            bound += l.Name.Length + 4 + l.Value.Length * 3;
        return bound;
    }

    /// <summary><c>a="x",b="y"</c>: checked names, escaped values.</summary>
    internal static int PutLabels(ReadOnlySpan<Label> labels, Span<byte> span)
    {
        var n = 0;
        for (var i = 0; i < labels.Length; i++)
        {
            if (i > 0)
                span[n++] = (byte)',';
            n += PutAscii(labels[i].Name, span[n..]);
            span[n++] = (byte)'=';
            span[n++] = (byte)'"';
            n += PutEscaped(labels[i].Value, span[n..], LabelEscapes);
            span[n++] = (byte)'"';
        }
        return n;
    }

    private static int PutLe(string? le, bool afterOthers, Span<byte> span)
    {
        if (le is null)
            return 0;
        var n = 0;
        if (afterOthers)
            span[n++] = (byte)',';
        "le=\""u8.CopyTo(span[n..]);
        n += 4;
        n += PutAscii(le, span[n..]);
        span[n++] = (byte)'"';
        return n;
    }

    /// <summary><c> value\n</c>.</summary>
    private static int PutValue(double value, Span<byte> span)
    {
        span[0] = (byte)' ';
        var n = 1 + FormatValue(value, span[1..]);
        span[n++] = (byte)'\n';
        return n;
    }

    private static int PutAscii(string text, Span<byte> destination)
    {
        System.Text.Ascii.FromUtf16(text, destination, out var written);
        return written;
    }

    private static int PutEscaped(ReadOnlySpan<char> text, Span<byte> destination, SearchValues<char> escapes)
    {
        var n = 0;
        while (text.Length > 0)
        {
            var stop = text.IndexOfAny(escapes);
            var run = stop < 0 ? text : text[..stop];
            if (run.Length > 0)
            {
                // Every escaped character is ASCII, so a run never ends inside a surrogate pair.
                Utf8.FromUtf16(run, destination[n..], out _, out var written, replaceInvalidSequences: true);
                n += written;
            }
            if (stop < 0)
                break;
            destination[n++] = (byte)'\\';
            destination[n++] = text[stop] switch
            {
                '\\' => (byte)'\\',
                '\n' => (byte)'n',
                _ => (byte)'"',
            };
            text = text[(stop + 1)..];
        }
        return n;
    }

    /// <summary>The longest <see cref="FormatValue"/> writes ("-2.2250738585072014E-308" is 24).</summary>
    internal const int MaxValueLength = 32;

    /// <summary>
    /// A sample value as Prometheus (Go's ParseFloat) reads it: whole numbers without exponent or fraction
    /// (<c>1073741824</c>, not <c>1.073741824E+09</c>), others in the shortest form that round-trips, and
    /// <c>+Inf</c>, <c>-Inf</c>, <c>NaN</c>. Invariant culture, ASCII.
    /// </summary>
    internal static int FormatValue(double value, Span<byte> destination)
    {
        if (double.IsNaN(value))
            return Copy("NaN"u8, destination);
        if (double.IsPositiveInfinity(value))
            return Copy("+Inf"u8, destination);
        if (double.IsNegativeInfinity(value))
            return Copy("-Inf"u8, destination);
        int written;
        // Below 2^63 a whole double converts to long exactly; -0 becomes 0.
        var ok = Math.Abs(value) < 9.2e18 && value == Math.Floor(value)
            ? ((long)value).TryFormat(destination, out written, default, CultureInfo.InvariantCulture)
            : value.TryFormat(destination, out written, "R", CultureInfo.InvariantCulture);
        if (!ok)
            throw new ArgumentException("destination too small for a value", nameof(destination));
        return written;
    }

    private static int Copy(ReadOnlySpan<byte> text, Span<byte> destination)
    {
        text.CopyTo(destination);
        return text.Length;
    }

    private void Ascii(ReadOnlySpan<byte> text)
    {
        text.CopyTo(output.GetSpan(text.Length));
        output.Advance(text.Length);
    }

    /// <summary>A name already checked to be ASCII.</summary>
    private void Ascii(string text)
    {
        if (text.Length == 0)
            return;
        var span = output.GetSpan(text.Length);
        System.Text.Ascii.FromUtf16(text, span, out var written);
        output.Advance(written);
    }

    private static void CheckMetricName(string name, string suffix)
    {
        if (!IsMetricName(name) || !IsNameTail(suffix))
            throw new ArgumentException($"'{Shorten(name + suffix)}' is not a Prometheus metric name ([a-zA-Z_:][a-zA-Z0-9_:]*)", nameof(name));
    }

    internal static void CheckLabels(ReadOnlySpan<Label> labels, bool withLe)
    {
        for (var i = 0; i < labels.Length; i++)
        {
            var name = labels[i].Name;
            if (!IsLabelName(name))
                throw new ArgumentException($"'{Shorten(name)}' is not a Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*, not starting with __)", nameof(labels));
            if (labels[i].Value is null)
                throw new ArgumentException($"label '{name}' has no value", nameof(labels));
            if (withLe && name == "le")
                throw new ArgumentException("a histogram's labels must not include 'le': it names the bucket", nameof(labels));
            for (var j = 0; j < i; j++)
            {
                if (labels[j].Name == name)
                    throw new ArgumentException($"label '{name}' occurs twice in one sample", nameof(labels));
            }
        }
    }

    /// <summary><c>[a-zA-Z_:][a-zA-Z0-9_:]*</c>, the names every Prometheus version accepts unquoted.</summary>
    public static bool IsMetricName(ReadOnlySpan<char> name)
    {
        return name.Length > 0 && !char.IsAsciiDigit(name[0]) && IsNameTail(name);
    }

    private static bool IsNameTail(ReadOnlySpan<char> tail)
    {
        foreach (var c in tail)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is '_' or ':'))
                return false;
        }
        return true;
    }

    /// <summary><c>[a-zA-Z_][a-zA-Z0-9_]*</c>; names starting with <c>__</c> are Prometheus's own.</summary>
    public static bool IsLabelName(ReadOnlySpan<char> name)
    {
        if (name.Length == 0 || char.IsAsciiDigit(name[0]) || name.StartsWith("__"))
            return false;
        foreach (var c in name)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c == '_'))
                return false;
        }
        return true;
    }

    private static string Shorten(string s) => s.Length <= 60 ? s : s[..60] + "…";
}
