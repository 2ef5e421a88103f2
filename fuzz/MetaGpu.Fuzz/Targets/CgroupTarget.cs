using System.Text;
using MetaGpu.Usage.Proc;

namespace MetaGpu.Fuzz.Targets;

/// <summary>
/// The cgroup parser (Usage/Proc/CgroupPath.cs) on a <c>/proc/PID/cgroup</c> file's bytes. Nothing may throw, a
/// container ID must be 64 lowercase hex digits and a pod UID dashed lowercase (or a static pod's 32 hex digits),
/// and both must come from the text (a UID's dashes may be the systemd driver's underscores there).
/// </summary>
internal sealed class CgroupTarget : IFuzzTarget
{
    public void Run(ReadOnlySpan<byte> input)
    {
        var text = Encoding.UTF8.GetString(input);
        var identity = CgroupPath.Parse(text);
        if (identity.ContainerId is { } id)
        {
            if (id.Length != 64 || !IsLowerHex(id, dashes: false))
                throw new FuzzFinding($"container ID '{id}' is not 64 lowercase hex digits");
            if (!text.Contains(id, StringComparison.Ordinal))
                throw new FuzzFinding($"container ID {id} is not in the text");
        }
        if (identity.PodUid is { } pod)
        {
            var dashed = pod.Length == 36 && pod[8] == '-' && pod[13] == '-' && pod[18] == '-' && pod[23] == '-';
            if (!(dashed || pod.Length == 32) || !IsLowerHex(pod, dashes: dashed))
                throw new FuzzFinding($"pod UID '{pod}' is not a dashed UUID or 32 hex digits");
            var folded = text.Replace('_', '-').ToLowerInvariant();
            if (!folded.Contains(pod, StringComparison.Ordinal))
                throw new FuzzFinding($"pod UID {pod} is not in the text");
        }
    }

    private static bool IsLowerHex(string text, bool dashes)
    {
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (dashes && i is 8 or 13 or 18 or 23)
                continue;
            if (c is not ((>= '0' and <= '9') or (>= 'a' and <= 'f')))
                return false;
        }
        return true;
    }
}
