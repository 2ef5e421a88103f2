using System.Globalization;

namespace MetaGpu.Usage.Proc;

/// <summary>
/// The parser of <c>/proc/&lt;pid&gt;/status</c>, for its <c>NSpid</c> line: the process's pid in each pid namespace
/// it is in, from the namespace of the procfs read (the node's, with <c>hostPID</c>) to its own innermost one, e.g.
/// <c>NSpid:\t48211\t7</c> for pid 7 of a container. Lines are <c>Name:\tvalue</c>; a command name is the only text a
/// process chooses, and it is on the <c>Name</c> line, escaped by the kernel (a newline in it is <c>\n</c>), so no
/// process can forge an <c>NSpid</c> line. Total: anything else gives false.
/// </summary>
public static class ProcStatus
{
    /// <summary>
    /// The most of a status file a caller reads (64 KiB; it is about 1.5 KiB, but the <c>Groups</c> line before
    /// <c>NSpid</c> lists every supplementary group). A file past it gives no answer.
    /// </summary>
    public const int MaxBytes = 64 * 1024;

    /// <summary>A pid namespace nests at most 32 deep (the kernel's MAX_PID_NS_LEVEL).</summary>
    public const int MaxDepth = 32;

    /// <summary>The pids of the <c>NSpid</c> line, outermost first; false when there is none (kernels before 4.1) or it is malformed.</summary>
    public static bool TryParseNsPids(string text, out int[] pids)
    {
        pids = [];
        var rest = text.AsSpan();
        while (!rest.IsEmpty)
        {
            var end = rest.IndexOf('\n');
            var line = end < 0 ? rest : rest[..end];
            rest = end < 0 ? default : rest[(end + 1)..];
            if (!line.StartsWith("NSpid:"))
                continue;
            var values = line["NSpid:".Length..];
            Span<int> found = stackalloc int[MaxDepth];
            var count = 0;
            foreach (var range in values.SplitAny(" \t"))
            {
                var field = values[range];
                if (field.IsEmpty)
                    continue;
                if (count == MaxDepth || !int.TryParse(field, NumberStyles.None, CultureInfo.InvariantCulture, out var pid) || pid <= 0)
                    return false;
                found[count++] = pid;
            }
            if (count == 0)
                return false;
            pids = found[..count].ToArray();
            return true;
        }
        return false;
    }
}
