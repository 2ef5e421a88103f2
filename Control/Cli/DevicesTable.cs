using MetaGpu.Control.V1;

namespace MetaGpu.Control.Cli;

/// <summary>
/// <c>get devices</c> as a table. Allocation scope: per GPU your share and memory used of allowed (red when over),
/// the GPU's own memory and utilisation, and other containers' use as totals. Node scope: the GPUs and their splits.
/// </summary>
internal static class DevicesTable
{
    public static string Render(DevicesView view, bool wide, MgctlEnvironment env, string clientVersion, Styler styler)
    {
        var header = TableHeader.Lines(view.Info, view.Devices.Scope, view.Devices.RefreshedUnixMs, clientVersion, env.Time.GetUtcNow());
        return BoxTable.Render(header, [Block(view.Devices, wide)], env.TerminalWidth, styler);
    }

    public static Block Block(ListDevicesResponse devices, bool wide)
    {
        return devices.Scope?.Kind == ScopeKind.Allocation ? AllocationBlock(devices.Devices, wide) : NodeBlock(devices.Devices, wide);
    }

    /// <summary>
    /// The table fits nvidia-smi's width; the GPU's own memory (yours plus others', roughly) is in <c>-o wide</c>.
    /// </summary>
    private static Block AllocationBlock(IEnumerable<Device> devices, bool wide)
    {
        List<Column> columns = [new("GPU", Align.Right)];
        if (wide)
            columns.Add(new("UUID"));
        columns.Add(new("Name"));
        if (wide)
            columns.AddRange([new("Resource"), new("Meta-devices", Align.Right)]);
        columns.AddRange([new("Share", Align.Right), new("Memory Used / Allowed", Align.Right)]);
        if (wide)
            columns.Add(new("GPU Memory Used / Total", Align.Right));
        columns.AddRange([new("Util", Align.Right), new("Others", Shrinks: !wide)]);
        var block = new Block(null, columns, "No GPUs: your allocation has none on this node");
        foreach (var d in devices)
        {
            var share = 0.0;
            ulong allowed = 0, used = 0;
            long metaDevices = 0;
            var resources = new List<string>();
            foreach (var g in d.Grants)
            {
                share += g.SharePercent;
                allowed += g.MemoryAllowedBytes;
                used += g.MemoryUsedBytes;
                metaDevices += g.MetaDevices;
                if (!resources.Contains(g.Resource))
                    resources.Add(g.Resource);
            }
            List<Cell> row = [Formats.Number(d.Index)];
            if (wide)
                row.Add(Formats.OrDash(d.Uuid));
            row.Add(Formats.OrDash(d.Name, 64));
            if (wide)
            {
                row.Add(Formats.OrDash(string.Join(",", resources), 120));
                row.Add(Formats.Number(metaDevices));
            }
            row.Add(d.Grants.Count > 0 ? Formats.Percent(share) : "-");
            row.Add(new Cell(d.Grants.Count > 0 ? Formats.UsedOf(used, allowed) : "-", used > allowed ? CellStyle.Alert : CellStyle.None));
            if (wide)
                row.Add(Formats.UsedOf(d.MemoryUsedBytes, d.MemoryTotalBytes));
            row.Add(d.HasUtilizationPercent ? Formats.Percent(d.UtilizationPercent) : "-");
            row.Add(Others(d));
            block.Add([.. row]);
        }
        return block;
    }

    private static Block NodeBlock(IEnumerable<Device> devices, bool wide)
    {
        List<Column> columns = [new("GPU", Align.Right)];
        if (wide)
            columns.Add(new("UUID"));
        columns.AddRange([new("Name"), new("GPU Memory Used / Total", Align.Right), new("Util", Align.Right), new("Split", Shrinks: !wide)]);
        var block = new Block(null, columns, "No GPUs");
        foreach (var d in devices)
        {
            List<Cell> row = [Formats.Number(d.Index)];
            if (wide)
                row.Add(Formats.OrDash(d.Uuid));
            row.Add(Formats.OrDash(d.Name, 64));
            row.Add(Formats.UsedOf(d.MemoryUsedBytes, d.MemoryTotalBytes));
            row.Add(d.HasUtilizationPercent ? Formats.Percent(d.UtilizationPercent) : "-");
            var splits = new List<string>(d.Splits.Count);
            foreach (var s in d.Splits)
                splits.Add($"{s.Resource}: {s.MetaGpus} x {Formats.Mib(s.ShareMemoryBytes)}");
            row.Add(Formats.OrDash(string.Join(", ", splits), 240));
            block.Add([.. row]);
        }
        return block;
    }

    /// <summary>Other containers' use of the GPU, as totals only: "2 processes, 4096MiB", or "none".</summary>
    public static string Others(Device d) => d.OthersProcesses > 0 || d.OthersMemoryUsedBytes > 0
        ? $"{Processes(d.OthersProcesses)}, {Formats.Mib(d.OthersMemoryUsedBytes)}"
        : "none";

    public static string Processes(int n) => n == 1 ? "1 process" : $"{Formats.Number(n)} processes";
}
