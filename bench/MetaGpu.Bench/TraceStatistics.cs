using System.Globalization;

namespace MetaGpu.Bench;

/// <summary>A mean over traces with its standard error (sample standard deviation / √n).</summary>
public readonly record struct MeanWithError(double Mean, double StandardError, int Count)
{
    /// <summary>At least two values (one has no standard error).</summary>
    public static MeanWithError Of(IReadOnlyList<double> values)
    {
        if (values.Count < 2)
            throw new ArgumentException("a standard error needs at least two values", nameof(values));
        var mean = values.Average();
        var variance = values.Sum(v => (v - mean) * (v - mean)) / (values.Count - 1);
        return new MeanWithError(mean, Math.Sqrt(variance / values.Count), values.Count);
    }

    /// <summary>The differences a[i] − b[i] of values measured on the same traces.</summary>
    public static MeanWithError OfDifferences(IReadOnlyList<double> a, IReadOnlyList<double> b)
    {
        if (a.Count != b.Count)
            throw new ArgumentException("paired values need the same count");
        return Of(a.Zip(b, (x, y) => x - y).ToList());
    }

    /// <summary>"mean ± error", both with the .NET number format <paramref name="number"/> (e.g. "F2").</summary>
    public string Format(string number) =>
        Mean.ToString(number, CultureInfo.InvariantCulture) + " ± " + StandardError.ToString(number, CultureInfo.InvariantCulture);
}
