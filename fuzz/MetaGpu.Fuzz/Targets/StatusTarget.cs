using System.Globalization;
using System.Text;
using MetaGpu.Usage.Proc;

namespace MetaGpu.Fuzz.Targets;

/// <summary>
/// The status parser (Usage/Proc/ProcStatus.cs) on a <c>/proc/PID/status</c> file's bytes: nothing may throw, a
/// refusal gives no pids, and the pids found are positive, at most 32 levels, and written on an NSpid line.
/// </summary>
internal sealed class StatusTarget : IFuzzTarget
{
    public void Run(ReadOnlySpan<byte> input)
    {
        var text = Encoding.UTF8.GetString(input);
        if (!ProcStatus.TryParseNsPids(text, out var pids))
        {
            if (pids.Length != 0)
                throw new FuzzFinding($"a refused status gave {pids.Length} pids");
            return;
        }
        if (pids.Length is 0 or > ProcStatus.MaxDepth)
            throw new FuzzFinding($"{pids.Length} pid namespace levels");
        var line = text.Split('\n').FirstOrDefault(l => l.StartsWith("NSpid:", StringComparison.Ordinal))
            ?? throw new FuzzFinding("pids without an NSpid line");
        foreach (var pid in pids)
        {
            if (pid <= 0 || !line.Contains(pid.ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal))
                throw new FuzzFinding($"pid {pid} is not on the NSpid line");
        }
    }
}
