using System.Globalization;

namespace MetaGpu.Usage.Proc;

/// <summary>
/// The parser of <c>/proc/&lt;pid&gt;/stat</c>, for the one field that tells a process from a later one with the
/// same pid: its start time (field 22, clock ticks since boot). Field 2 is the command name in parentheses, and the
/// process chooses it (prctl PR_SET_NAME, up to 15 bytes): it may hold spaces and ')' itself, so the fields are
/// counted after the last ')'. Total.
/// </summary>
public static class ProcStat
{
    /// <summary>The most of a stat file a caller reads (4 KiB; the line is about 300 bytes).</summary>
    public const int MaxBytes = 4 * 1024;

    /// <summary>Fields after the command name: field 3 (state) is the first, field 22 (starttime) the twentieth.</summary>
    private const int StartTimeIndex = 22 - 3;

    public static bool TryParseStartTime(string text, out ulong startTicks)
    {
        startTicks = 0;
        var span = text.AsSpan();
        var close = span.LastIndexOf(')');
        if (close < 0 || span[..close].IndexOf('(') < 0)
            return false;
        var rest = span[(close + 1)..];
        var index = 0;
        foreach (var range in rest.Split(' '))
        {
            var field = rest[range];
            if (field.IsEmpty)
                continue;
            if (index++ == StartTimeIndex)
                return ulong.TryParse(field.TrimEnd('\n'), NumberStyles.None, CultureInfo.InvariantCulture, out startTicks);
        }
        return false;
    }
}
