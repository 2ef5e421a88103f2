using System.Text;
using MetaGpu.Control.V1;

namespace MetaGpu.Control.Cli;

/// <summary><c>info</c> as text: one "Label: value" line per fact, the labels aligned.</summary>
internal static class InfoText
{
    public static string Render(InfoResponse info, string clientVersion, bool wide, DateTimeOffset now)
    {
        var scope = info.Scope ?? new Scope();
        var lines = new List<(string Label, string Value)>
        {
            ("Node", Formats.OrDash(info.Node)),
            ("Daemon", $"metagpu {Formats.OrDash(info.Version, 40)}"),
            ("mgctl", clientVersion),
            ("Scope", MgctlJson.ScopeName(scope.Kind) + (scope.Reason.Length > 0 ? $" ({Text.Printable(scope.Reason, 200)})" : "")),
            ("Your pid", scope.CallerPid > 0 ? Formats.Number(scope.CallerPid) + (scope.Kind == ScopeKind.Node ? " (host)" : " (in your pid namespace)") : "-"),
        };
        if (scope.Allocations.Count == 0)
            lines.Add(("Allocations", scope.Kind == ScopeKind.Node ? "none of your own (node scope sees every container)" : "none"));
        for (var i = 0; i < scope.Allocations.Count; i++)
        {
            var a = scope.Allocations[i];
            var key = wide ? Formats.OrDash(a.Key) : Formats.ShortKey(a.Key);
            lines.Add((i == 0 ? "Allocations" : "", $"{Formats.OrDash(a.Resource)}  {Formats.Container(a)}  {key}"));
        }
        lines.Add(("Pod names", info.PodResourcesAvailable ? "known (the kubelet's pod-resources service answers)" : "unknown (the kubelet's pod-resources service did not answer)"));
        lines.Add(("Refreshed", info.RefreshedUnixMs > 0 ? $"{Formats.Timestamp(info.RefreshedUnixMs)} ({Formats.Ago(info.RefreshedUnixMs, now)})" : "never"));

        var width = 0;
        foreach (var (label, _) in lines)
            width = Math.Max(width, label.Length);
        width += 2;
        var sb = new StringBuilder();
        foreach (var (label, value) in lines)
            sb.Append((label.Length > 0 ? label + ":" : "").PadRight(width)).Append(value).Append('\n');
        return sb.ToString();
    }
}
