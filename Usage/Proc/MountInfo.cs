using System.Globalization;
using System.Text;

namespace MetaGpu.Usage.Proc;

/// <summary>
/// The parser of <c>/proc/&lt;pid&gt;/mountinfo</c>. Each line is
/// <c>ID PARENT MAJOR:MINOR ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTIONS</c>; the kernel
/// escapes space, tab, newline and backslash in paths as <c>\040</c>, <c>\011</c>, <c>\012</c>, <c>\134</c>, so
/// a field never holds a space and a path chosen by a container cannot pose as other fields. Total: a line that does
/// not have that shape is skipped, nothing throws.
/// </summary>
public static class MountInfo
{
    /// <summary>
    /// The most of a mountinfo file a caller reads (4 MiB). A container's table has tens of lines of about 150
    /// bytes, a busy node's host table a few thousand; 4 MiB is over 20,000 mounts. A file past it is not parsed
    /// at all (<see cref="ProcFs"/> gives no identity) rather than cut at an arbitrary line.
    /// </summary>
    public const int MaxBytes = 4 * 1024 * 1024;

    /// <summary>
    /// The ID of the mount a process sees as its root (the last entry mounted at <c>/</c>: later mounts over it hide
    /// earlier ones); null when none is. Mount IDs are unique on the node, and a new mount namespace gets new mounts
    /// (new IDs), so two processes whose root mounts have one ID share one mount namespace's root.
    /// </summary>
    public static int? RootMountId(IReadOnlyList<MountInfoEntry> entries)
    {
        ArgumentNullException.ThrowIfNull(entries);
        int? id = null;
        foreach (var e in entries)
        {
            if (e.MountPoint == "/")
                id = e.MountId;
        }
        return id;
    }

    public static IReadOnlyList<MountInfoEntry> Parse(string text)
    {
        var entries = new List<MountInfoEntry>();
        var rest = text.AsSpan();
        while (!rest.IsEmpty)
        {
            var end = rest.IndexOf('\n');
            var line = end < 0 ? rest : rest[..end];
            rest = end < 0 ? default : rest[(end + 1)..];
            if (TryParseLine(line, out var entry))
                entries.Add(entry);
        }
        return entries;
    }

    private static bool TryParseLine(ReadOnlySpan<char> line, out MountInfoEntry entry)
    {
        entry = null!;
        var fields = new FieldReader(line);
        if (!fields.Next(out var id) || !int.TryParse(id, NumberStyles.None, CultureInfo.InvariantCulture, out var mountId)
            || !fields.Next(out var parent) || !int.TryParse(parent, NumberStyles.None, CultureInfo.InvariantCulture, out var parentId)
            || !fields.Next(out var device) || !TryParseDevice(device, out var major, out var minor)
            || !fields.Next(out var root) || !fields.Next(out var mountPoint)
            || !fields.Next(out _))
            return false;
        // Optional fields (shared:N, master:N, propagate_from:N, unbindable), as many as there are, then "-".
        ReadOnlySpan<char> field;
        do
        {
            if (!fields.Next(out field))
                return false;
        }
        while (!field.SequenceEqual("-"));
        if (!fields.Next(out var fsType) || !fields.Next(out var source))
            return false;
        // Super options follow; nothing here needs them, and a line without them is still a mount.
        entry = new MountInfoEntry(mountId, parentId, major, minor, Unescape(root), Unescape(mountPoint), fsType.ToString(), Unescape(source));
        return true;
    }

    private static bool TryParseDevice(ReadOnlySpan<char> text, out uint major, out uint minor)
    {
        minor = 0;
        var colon = text.IndexOf(':');
        major = 0;
        return colon > 0
            && uint.TryParse(text[..colon], NumberStyles.None, CultureInfo.InvariantCulture, out major)
            && uint.TryParse(text[(colon + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out minor);
    }

    /// <summary>
    /// Decodes the kernel's <c>\ooo</c> escapes (three octal digits). Anything else, a backslash not followed by
    /// three octal digits included, is kept as it is: the kernel never writes that, so it cannot match a real path.
    /// </summary>
    internal static string Unescape(ReadOnlySpan<char> text)
    {
        var backslash = text.IndexOf('\\');
        if (backslash < 0)
            return text.ToString();
        var builder = new StringBuilder(text.Length);
        while (backslash >= 0)
        {
            builder.Append(text[..backslash]);
            text = text[backslash..];
            if (text.Length >= 4 && IsOctal(text[1]) && IsOctal(text[2]) && IsOctal(text[3]))
            {
                builder.Append((char)(((text[1] - '0') << 6) | ((text[2] - '0') << 3) | (text[3] - '0')));
                text = text[4..];
            }
            else
            {
                builder.Append('\\');
                text = text[1..];
            }
            backslash = text.IndexOf('\\');
        }
        builder.Append(text);
        return builder.ToString();
    }

    private static bool IsOctal(char c) => c is >= '0' and <= '7';

    /// <summary>Space-separated fields; runs of spaces count as one separator, as a line never has empty fields.</summary>
    private ref struct FieldReader(ReadOnlySpan<char> line)
    {
        private ReadOnlySpan<char> _rest = line;

        public bool Next(out ReadOnlySpan<char> field)
        {
            _rest = _rest.TrimStart(' ');
            if (_rest.IsEmpty)
            {
                field = default;
                return false;
            }
            var space = _rest.IndexOf(' ');
            field = space < 0 ? _rest : _rest[..space];
            _rest = space < 0 ? default : _rest[space..];
            return true;
        }
    }
}
