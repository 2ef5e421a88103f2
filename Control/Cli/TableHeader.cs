using MetaGpu.Control.V1;

namespace MetaGpu.Control.Cli;

/// <summary>The header box of every table: versions and node, then the caller's scope and how fresh the data is.</summary>
internal static class TableHeader
{
    public static List<string[]> Lines(InfoResponse info, Scope? scope, long refreshedUnixMs, string clientVersion, DateTimeOffset now)
    {
        scope ??= new Scope();
        var kind = MgctlJson.ScopeName(scope.Kind);
        var reason = scope.Reason.Length > 0 ? $" ({Text.Printable(scope.Reason, 80)})" : "";
        return
        [
            [$"MetaGPU {Formats.OrDash(info.Version, 40)}", $"mgctl {clientVersion}", $"Node: {Formats.OrDash(info.Node, 64)}"],
            [$"Scope: {kind}{reason}", $"Refreshed: {Formats.Ago(refreshedUnixMs, now)}"],
        ];
    }
}
