using System.Globalization;
using System.Text;
using MetaGpu.Usage.Proc;

namespace MetaGpu.Fuzz.Targets;

/// <summary>
/// The stat parser (Usage/Proc/ProcStat.cs) on a <c>/proc/PID/stat</c> file's bytes: nothing may throw, a refusal
/// leaves 0, and a start time found is a number written after the command name's last ')'.
/// </summary>
internal sealed class StatTarget : IFuzzTarget
{
    public void Run(ReadOnlySpan<byte> input)
    {
        var text = Encoding.UTF8.GetString(input);
        if (!ProcStat.TryParseStartTime(text, out var ticks))
        {
            if (ticks != 0)
                throw new FuzzFinding($"a refused stat left the start time {ticks}");
            return;
        }
        var afterName = text[(text.LastIndexOf(')') + 1)..];
        if (!afterName.Contains(ticks.ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal))
            throw new FuzzFinding($"start time {ticks} is not written after the command name");
    }
}
