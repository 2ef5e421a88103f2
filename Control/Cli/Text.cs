using System.Text;

namespace MetaGpu.Control.Cli;

/// <summary>
/// Text from elsewhere (a command line of /proc, a server's message, an argument) made safe to print on a terminal:
/// a control character could move the cursor or change colours, so each becomes '?'.
/// </summary>
internal static class Text
{
    public const string Ellipsis = "...";

    /// <summary><paramref name="text"/> with control characters as '?', cut to <paramref name="max"/> characters with "..." when longer.</summary>
    public static string Printable(string? text, int max = int.MaxValue)
    {
        text ??= "";
        var cut = text.Length > max;
        var keep = cut ? Math.Max(0, max - Ellipsis.Length) : text.Length;
        if (keep > 0 && keep < text.Length && char.IsHighSurrogate(text[keep - 1]))
            keep--; // never split a pair
        var clean = true;
        for (var i = 0; i < keep && clean; i++)
            clean = !IsControl(text[i]);
        if (clean)
            return cut ? string.Concat(text.AsSpan(0, keep), Ellipsis) : text;
        var sb = new StringBuilder(keep + Ellipsis.Length);
        for (var i = 0; i < keep; i++)
            sb.Append(IsControl(text[i]) ? '?' : text[i]);
        if (cut)
            sb.Append(Ellipsis);
        return sb.ToString();
    }

    /// <summary>C0, DEL and C1: what a terminal may act on instead of printing.</summary>
    private static bool IsControl(char c) => c < 0x20 || (c >= 0x7f && c <= 0x9f);
}
