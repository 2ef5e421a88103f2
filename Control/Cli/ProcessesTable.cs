using MetaGpu.Control.V1;

namespace MetaGpu.Control.Cli;

/// <summary>
/// <c>get processes</c> as tables, as nvidia-smi lays them out: a block of containers (per GPU the share, memory
/// used of allowed, red when over, and SM use; in allocation scope other containers' totals, without names), then
/// the processes. Node scope adds each process's container and the processes of no allocation.
/// </summary>
internal static class ProcessesTable
{
    /// <summary>Commands longer than this are cut in the table (never in <c>-o wide</c>).</summary>
    private const int TableCommandLength = 60;

    public static string Render(ProcessesView view, bool wide, MgctlEnvironment env, string clientVersion, Styler styler)
    {
        var c = view.Containers;
        var header = TableHeader.Lines(view.Info, c.Scope, c.RefreshedUnixMs, clientVersion, env.Time.GetUtcNow());
        if (!c.PodResourcesAvailable)
            header.Add(["Pod names unknown: the kubelet's pod-resources service did not answer the latest refresh"]);
        var node = c.Scope?.Kind != ScopeKind.Allocation;
        return BoxTable.Render(header, [ContainersBlock(view, node, wide), ProcessBlock(c, node, wide)], env.TerminalWidth, styler);
    }

    private static Block ContainersBlock(ProcessesView view, bool node, bool wide)
    {
        List<Column> columns = [new("GPU", Align.Right)];
        if (wide)
            columns.AddRange([new("GPU UUID"), new("Meta-devices", Align.Right)]);
        columns.AddRange([new("Share", Align.Right), new("Memory Used / Allowed", Align.Right), new("SM", Align.Right)]);
        // The resource and the allocation key only in -o wide: most nodes serve one resource, and the table keeps
        // to nvidia-smi's width.
        columns.AddRange(wide ? [new("Resource"), new("Allocation"), new("Namespace"), new("Pod"), new("Container")] : [new("Container", Shrinks: true)]);
        var block = new Block("Containers:", columns, node ? "No containers with MetaGPU allocations" : "No allocation of yours was found");
        foreach (var container in view.Containers.Containers)
        {
            var a = container.Allocation ?? new AllocationRef();
            var gpus = container.Gpus.Count > 0 ? container.Gpus : [new ContainerGpu { Index = -1 }];
            foreach (var g in gpus)
            {
                var none = g.Index < 0;
                List<Cell> row = [none ? "-" : Formats.Number(g.Index)];
                if (wide)
                    row.AddRange([Formats.OrDash(g.Uuid), none ? "-" : Formats.Number(g.MetaDevices)]);
                row.Add(none ? "-" : Formats.Percent(g.SharePercent));
                row.Add(none ? "-" : new Cell(Formats.UsedOf(g.MemoryUsedBytes, g.MemoryAllowedBytes),
                    g.MemoryUsedBytes > g.MemoryAllowedBytes ? CellStyle.Alert : CellStyle.None));
                row.Add(none ? "-" : Formats.Percent(g.SmPercent));
                if (wide)
                    row.AddRange([Formats.OrDash(a.Resource), Formats.OrDash(a.Key), Formats.OrDash(a.Namespace), Formats.OrDash(a.Pod), Formats.OrDash(a.Container)]);
                else
                    row.Add(Formats.Container(a));
                block.Add([.. row]);
            }
        }
        if (!node)
        {
            foreach (var d in view.Devices.Devices)
            {
                if (d.OthersProcesses <= 0 && d.OthersMemoryUsedBytes == 0)
                    continue;
                List<Cell> row = [Formats.Number(d.Index)];
                if (wide)
                    row.AddRange([Formats.OrDash(d.Uuid), "-"]);
                row.AddRange(["-", Formats.Mib(d.OthersMemoryUsedBytes), "-"]);
                if (wide)
                    row.AddRange(["-", "-", "-", "-"]);
                row.Add($"other containers: {DevicesTable.Processes(d.OthersProcesses)}");
                block.Add([.. row]);
            }
        }
        return block;
    }

    private static Block ProcessBlock(ListContainersResponse c, bool node, bool wide)
    {
        List<Column> columns = [new("GPU", Align.Right)];
        if (wide)
            columns.Add(new("GPU UUID"));
        columns.AddRange([new("PID", Align.Right), new("Memory", Align.Right), new("SM", Align.Right)]);
        if (wide)
            columns.AddRange([new("Namespace"), new("Pod"), new("Container")]);
        else if (node)
            columns.Add(new("Container"));
        columns.Add(new("Command", Shrinks: !wide));
        var block = new Block("Processes:", columns, "No running processes found");

        void Add(Process p, AllocationRef? a)
        {
            List<Cell> row = [Formats.Number(p.GpuIndex)];
            if (wide)
                row.Add(Formats.OrDash(p.GpuUuid));
            row.Add(Formats.Pid(p.Pid));
            row.Add(p.HasMemoryUsedBytes ? Formats.Mib(p.MemoryUsedBytes) : "-");
            row.Add(p.HasSmPercent ? Formats.Percent(p.SmPercent) : "-");
            if (wide)
            {
                if (a is null)
                    row.AddRange(["-", "-", "(no allocation)"]);
                else
                    row.AddRange([Formats.OrDash(a.Namespace), Formats.OrDash(a.Pod), Formats.OrDash(a.Container)]);
            }
            else if (node)
            {
                row.Add(a is null ? "(no allocation)" : Formats.Container(a));
            }
            row.Add(wide ? Formats.OrDash(p.Command, int.MaxValue) : Formats.OrDash(p.Command, TableCommandLength));
            block.Add([.. row]);
        }

        foreach (var container in c.Containers)
        {
            foreach (var p in container.Processes)
                Add(p, container.Allocation ?? new AllocationRef());
        }
        foreach (var p in c.Unallocated)
            Add(p, null);
        return block;
    }
}
