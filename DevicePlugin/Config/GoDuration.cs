using System.Globalization;

namespace MetaGpu.DevicePlugin.Config;

/// <summary>
/// Durations as Go's <c>time.ParseDuration</c> writes them (<c>90s</c>, <c>2m</c>, <c>1h30m</c>, <c>1.5h</c>,
/// <c>500ms</c>), because operators of the original Go daemon and of Kubernetes already write them that way.
/// Negative durations are not accepted: nothing in the config can use one. Like Go, the total is counted in
/// nanoseconds and must fit in 63 bits (about 292 years).
/// </summary>
internal static class GoDuration
{
    public const string Examples = "e.g. 90s, 2m, 1h, 500ms";

    public static bool TryParse(string text, out TimeSpan result)
    {
        result = TimeSpan.Zero;
        if (text == "0")
            return true;
        if (text.Length == 0)
            return false;

        ulong totalNs = 0;
        var s = text.AsSpan();
        while (!s.IsEmpty)
        {
            var intEnd = 0;
            while (intEnd < s.Length && char.IsAsciiDigit(s[intEnd]))
                intEnd++;
            var fracStart = intEnd;
            var fracEnd = intEnd;
            if (fracStart < s.Length && s[fracStart] == '.')
            {
                fracStart++;
                fracEnd = fracStart;
                while (fracEnd < s.Length && char.IsAsciiDigit(s[fracEnd]))
                    fracEnd++;
            }
            if (intEnd == 0 && fracEnd - fracStart == 0)
                return false; // no digits at all: "s", ".s"

            var unitEnd = fracEnd;
            while (unitEnd < s.Length && !char.IsAsciiDigit(s[unitEnd]) && s[unitEnd] != '.')
                unitEnd++;
            if (UnitNanoseconds(s[fracEnd..unitEnd]) is not { } unit)
                return false;

            ulong whole = 0;
            if (intEnd > 0 && !ulong.TryParse(s[..intEnd], NumberStyles.None, CultureInfo.InvariantCulture, out whole))
                return false;
            if (whole > long.MaxValue / unit)
                return false;
            var ns = whole * unit;
            // The fraction, to the nanosecond; digits past 18 cannot matter.
            var fraction = s[fracStart..fracEnd];
            if (fraction.Length > 18)
                fraction = fraction[..18];
            if (fraction.Length > 0)
                ns += (ulong)(ulong.Parse(fraction, NumberStyles.None, CultureInfo.InvariantCulture) * (unit / Math.Pow(10, fraction.Length)));
            totalNs += ns;
            if (totalNs > long.MaxValue)
                return false;
            s = s[unitEnd..];
        }
        result = TimeSpan.FromTicks((long)(totalNs / 100));
        return true;
    }

    /// <summary>Go's units, including both spellings of micro.</summary>
    private static ulong? UnitNanoseconds(ReadOnlySpan<char> unit) => unit switch
    {
        "ns" => 1,
        "us" or "\u00b5s" or "\u03bcs" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        _ => null,
    };
}
