using System.Globalization;
using System.Text;
using System.Text.Json;

namespace MetaGpu.Nvml;

/// <summary>What <c>metagpu gpus</c> shows: the inventory and each GPU's processes, as a table or JSON.</summary>
public sealed record GpuReport(
    string Backend,
    string DriverVersion,
    string CudaVersion,
    IReadOnlyList<GpuReportEntry> Gpus,
    IReadOnlyList<GpuProblem> Unavailable)
{
    private const ulong MiB = 1024 * 1024;

    public static GpuReport Collect(IGpuBackend backend)
    {
        var inventory = backend.GetInventory();
        var unavailable = new List<GpuProblem>(inventory.Unavailable);
        IReadOnlyList<GpuReportProcess> Processes(GpuInfo g)
        {
            try
            {
                var processes = new List<GpuReportProcess>();
                foreach (var p in backend.GetProcesses(g.Uuid))
                    processes.Add(new GpuReportProcess(p.Pid, p.UsedMemoryBytes / MiB, p.Kind == GpuProcessKind.Compute ? "compute" : "graphics"));
                return processes;
            }
            catch (GpuBackendException e)
            {
                unavailable.Add(new GpuProblem(g.Index, g.Uuid, e.Message));
                return [];
            }
        }
        var gpus = new List<GpuReportEntry>(inventory.Gpus.Count);
        foreach (var g in inventory.Gpus)
        {
            gpus.Add(new GpuReportEntry(
                g.Index, g.Uuid, g.Name,
                g.MemoryTotalBytes / MiB, g.MemoryUsedBytes / MiB, g.MemoryFreeBytes / MiB,
                g.PciBusId, g.NumaNode, g.MinorNumber, g.ComputeMode, g.MigEnabled,
                g.TemperatureCelsius, g.PowerMilliwatts is { } mw ? Math.Round(mw / 1000.0, 1) : null,
                g.UtilizationGpuPercent, g.UtilizationMemoryPercent,
                Processes(g)));
        }
        return new GpuReport(backend.Kind, inventory.DriverVersion, inventory.CudaDriverVersion, gpus, unavailable);
    }

    /// <summary>
    /// camelCase JSON, written field by field: the reflection-free writer is all this needs, and the serializer
    /// would add about 0.3 MB to the native binary.
    /// </summary>
    public string ToJson()
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteString("backend", Backend);
            w.WriteString("driverVersion", DriverVersion);
            w.WriteString("cudaVersion", CudaVersion);
            w.WriteStartArray("gpus");
            foreach (var g in Gpus)
            {
                w.WriteStartObject();
                w.WriteNumber("index", g.Index);
                w.WriteString("uuid", g.Uuid);
                w.WriteString("name", g.Name);
                w.WriteNumber("memoryTotalMiB", g.MemoryTotalMiB);
                w.WriteNumber("memoryUsedMiB", g.MemoryUsedMiB);
                w.WriteNumber("memoryFreeMiB", g.MemoryFreeMiB);
                w.WriteString("pciBusId", g.PciBusId);
                Number(w, "numaNode", g.NumaNode);
                w.WriteNumber("minorNumber", g.MinorNumber);
                w.WriteString("computeMode", g.ComputeMode);
                if (g.MigEnabled is { } mig)
                    w.WriteBoolean("migEnabled", mig);
                else
                    w.WriteNull("migEnabled");
                Number(w, "temperatureCelsius", g.TemperatureCelsius);
                if (g.PowerWatts is { } watts)
                    w.WriteNumber("powerWatts", watts);
                else
                    w.WriteNull("powerWatts");
                Number(w, "utilizationGpuPercent", g.UtilizationGpuPercent);
                Number(w, "utilizationMemoryPercent", g.UtilizationMemoryPercent);
                w.WriteStartArray("processes");
                foreach (var p in g.Processes)
                {
                    w.WriteStartObject();
                    w.WriteNumber("pid", p.Pid);
                    if (p.UsedMemoryMiB is { } used)
                        w.WriteNumber("usedMemoryMiB", used);
                    else
                        w.WriteNull("usedMemoryMiB");
                    w.WriteString("kind", p.Kind);
                    w.WriteEndObject();
                }
                w.WriteEndArray();
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteStartArray("unavailable");
            foreach (var u in Unavailable)
            {
                w.WriteStartObject();
                w.WriteNumber("index", u.Index);
                w.WriteString("uuid", u.Uuid);
                w.WriteString("reason", u.Reason);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length);
    }

    private static void Number(Utf8JsonWriter w, string name, long? value)
    {
        if (value is { } v)
            w.WriteNumber(name, v);
        else
            w.WriteNull(name);
    }

    public string ToTable()
    {
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"Backend: {Backend}   Driver: {DriverVersion}   CUDA: {CudaVersion}   GPUs: {Gpus.Count}\n\n");
        var rows = new List<string[]> { new[] { "IDX", "UUID", "NAME", "MEMORY USED/TOTAL", "PCI BUS ID", "NUMA", "MINOR", "COMPUTE MODE", "MIG", "TEMP", "POWER", "UTIL" } };
        foreach (var g in Gpus)
        {
            rows.Add([
                g.Index.ToString(CultureInfo.InvariantCulture), g.Uuid, g.Name,
                $"{g.MemoryUsedMiB} / {g.MemoryTotalMiB} MiB", g.PciBusId,
                g.NumaNode?.ToString(CultureInfo.InvariantCulture) ?? "-", g.MinorNumber.ToString(CultureInfo.InvariantCulture),
                g.ComputeMode ?? "-", g.MigEnabled is null ? "n/a" : g.MigEnabled.Value ? "on" : "off",
                g.TemperatureCelsius is { } t ? $"{t}C" : "-", g.PowerWatts is { } w ? $"{w:0.#}W" : "-",
                g.UtilizationGpuPercent is { } u ? $"{u}%" : "-",
            ]);
        }
        AppendTable(sb, rows);
        foreach (var u in Unavailable)
            sb.Append(CultureInfo.InvariantCulture, $"GPU {u.Index}{(u.Uuid is null ? "" : $" ({u.Uuid})")} is unavailable: {u.Reason}\n");
        var prow = new List<string[]> { new[] { "GPU", "PID", "TYPE", "MEMORY" } };
        foreach (var g in Gpus)
        {
            foreach (var p in g.Processes)
                prow.Add([g.Index.ToString(CultureInfo.InvariantCulture), p.Pid.ToString(CultureInfo.InvariantCulture), p.Kind, p.UsedMemoryMiB is { } m ? $"{m} MiB" : "n/a"]);
        }
        sb.Append('\n');
        if (prow.Count == 1)
            sb.Append("No GPU processes.\n");
        else
            AppendTable(sb, prow);
        return sb.ToString();
    }

    private static void AppendTable(StringBuilder sb, List<string[]> rows)
    {
        var widths = new int[rows[0].Length];
        foreach (var r in rows)
        {
            for (var i = 0; i < r.Length; i++)
                widths[i] = Math.Max(widths[i], r[i].Length);
        }
        foreach (var r in rows)
        {
            for (var i = 0; i < r.Length; i++)
            {
                sb.Append(r[i]);
                if (i < r.Length - 1)
                    sb.Append(' ', widths[i] - r[i].Length + 2);
            }
            sb.Append('\n');
        }
    }
}

public sealed record GpuReportEntry(
    int Index,
    string Uuid,
    string Name,
    ulong MemoryTotalMiB,
    ulong MemoryUsedMiB,
    ulong MemoryFreeMiB,
    string PciBusId,
    int? NumaNode,
    uint MinorNumber,
    string? ComputeMode,
    bool? MigEnabled,
    uint? TemperatureCelsius,
    double? PowerWatts,
    uint? UtilizationGpuPercent,
    uint? UtilizationMemoryPercent,
    IReadOnlyList<GpuReportProcess> Processes);

public sealed record GpuReportProcess(uint Pid, ulong? UsedMemoryMiB, string Kind);
