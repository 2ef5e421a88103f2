using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using MetaGpu.Control.V1;

namespace MetaGpu.Control.Cli;

/// <summary>
/// The JSON documents of <c>-o json</c> and of a watch's NDJSON lines, written field by field (no reflection). The
/// schema is docs/mgctl.md's and stable: snake_case keys, fields only ever added, every key always present (null
/// where the daemon does not know the value).
/// </summary>
internal static class MgctlJson
{
    private static readonly JsonWriterOptions Indented = new() { Indented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
    // Not for HTML: the relaxed encoder leaves quotes and apostrophes of command lines readable; control characters
    // and invalid UTF-16 are still escaped.
    private static readonly JsonWriterOptions Compact = new() { Indented = false, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static string Devices(DevicesView view, bool indented) => Write(indented, w =>
    {
        w.WriteString("kind", "devices");
        Common(w, view.Info, view.Devices.Scope, view.Devices.RefreshedUnixMs);
        DeviceArray(w, view.Devices.Devices);
    });

    public static string Processes(ProcessesView view, bool indented) => Write(indented, w =>
    {
        w.WriteString("kind", "processes");
        Common(w, view.Info, view.Containers.Scope, view.Containers.RefreshedUnixMs);
        w.WriteBoolean("pod_resources_available", view.Containers.PodResourcesAvailable);
        DeviceArray(w, view.Devices.Devices);
        w.WriteStartArray("containers");
        foreach (var c in view.Containers.Containers)
        {
            w.WriteStartObject();
            w.WritePropertyName("allocation");
            Allocation(w, c.Allocation);
            w.WriteNumber("request", c.Request);
            w.WriteStartArray("gpus");
            foreach (var g in c.Gpus)
            {
                w.WriteStartObject();
                w.WriteNumber("index", g.Index);
                w.WriteString("uuid", g.Uuid);
                w.WriteNumber("meta_devices", g.MetaDevices);
                w.WriteNumber("share_percent", g.SharePercent);
                w.WriteNumber("memory_allowed_bytes", g.MemoryAllowedBytes);
                w.WriteNumber("memory_used_bytes", g.MemoryUsedBytes);
                w.WriteNumber("sm_percent", g.SmPercent);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            ProcessArray(w, "processes", c.Processes);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        ProcessArray(w, "unallocated", view.Containers.Unallocated);
    });

    public static string Info(InfoResponse info, string clientVersion, bool indented) => Write(indented, w =>
    {
        w.WriteString("kind", "info");
        w.WriteString("node", info.Node);
        w.WriteString("daemon_version", info.Version);
        w.WriteString("client_version", clientVersion);
        w.WritePropertyName("scope");
        Scope(w, info.Scope);
        w.WriteBoolean("pod_resources_available", info.PodResourcesAvailable);
        w.WriteNumber("refreshed_unix_ms", info.RefreshedUnixMs);
    });

    public static string Ping(PingResponse ping, double roundTripMs, bool indented) => Write(indented, w =>
    {
        w.WriteString("kind", "ping");
        w.WriteString("daemon_version", ping.Version);
        w.WriteNumber("server_unix_ms", ping.ServerUnixMs);
        w.WriteNumber("round_trip_ms", Math.Round(roundTripMs, 3));
    });

    public static string Version(string clientVersion, string? daemonVersion, string? daemonError, bool indented) => Write(indented, w =>
    {
        w.WriteString("kind", "version");
        w.WriteString("client_version", clientVersion);
        w.WriteString("daemon_version", daemonVersion);
        w.WriteString("daemon_error", daemonError);
    });

    public static string Kill(KillProcessResponse killed, bool indented) => Write(indented, w =>
    {
        w.WriteString("kind", "kill");
        w.WriteNumber("pid", killed.Pid);
        w.WriteNumber("signal", killed.Signal);
        w.WriteString("signal_name", SignalName(killed.Signal));
        w.WriteString("command", killed.Command);
    });

    /// <summary>SIGTERM for 15 (and 0, which the API reads as 15), "SIG?" plus the number for others.</summary>
    public static string SignalName(int signal) => signal switch
    {
        0 or 15 => "SIGTERM",
        9 => "SIGKILL",
        2 => "SIGINT",
        _ => $"SIG{signal}",
    };

    private static void Common(Utf8JsonWriter w, InfoResponse info, Scope? scope, long refreshedUnixMs)
    {
        w.WriteString("node", info.Node);
        w.WriteString("daemon_version", info.Version);
        w.WritePropertyName("scope");
        Scope(w, scope);
        w.WriteNumber("refreshed_unix_ms", refreshedUnixMs);
    }

    public static string ScopeName(ScopeKind kind) => kind switch
    {
        ScopeKind.Allocation => "allocation",
        ScopeKind.Node => "node",
        _ => "unspecified",
    };

    private static void Scope(Utf8JsonWriter w, Scope? scope)
    {
        scope ??= new Scope();
        w.WriteStartObject();
        w.WriteString("kind", ScopeName(scope.Kind));
        w.WriteString("reason", scope.Reason);
        w.WriteNumber("caller_pid", scope.CallerPid);
        w.WriteStartArray("allocations");
        foreach (var a in scope.Allocations)
            Allocation(w, a);
        w.WriteEndArray();
        w.WriteEndObject();
    }

    private static void Allocation(Utf8JsonWriter w, AllocationRef? a)
    {
        a ??= new AllocationRef();
        w.WriteStartObject();
        w.WriteString("key", a.Key);
        w.WriteString("resource", a.Resource);
        StringOrNull(w, "namespace", a.Namespace);
        StringOrNull(w, "pod", a.Pod);
        StringOrNull(w, "container", a.Container);
        w.WriteEndObject();
    }

    private static void DeviceArray(Utf8JsonWriter w, IEnumerable<Device> devices)
    {
        w.WriteStartArray("devices");
        foreach (var d in devices)
        {
            w.WriteStartObject();
            w.WriteNumber("index", d.Index);
            w.WriteString("uuid", d.Uuid);
            w.WriteString("name", d.Name);
            w.WriteNumber("memory_total_bytes", d.MemoryTotalBytes);
            w.WriteNumber("memory_used_bytes", d.MemoryUsedBytes);
            if (d.HasUtilizationPercent)
                w.WriteNumber("utilization_percent", d.UtilizationPercent);
            else
                w.WriteNull("utilization_percent");
            w.WriteStartArray("splits");
            foreach (var s in d.Splits)
            {
                w.WriteStartObject();
                w.WriteString("resource", s.Resource);
                w.WriteNumber("meta_gpus", s.MetaGpus);
                w.WriteNumber("share_memory_bytes", s.ShareMemoryBytes);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteStartArray("grants");
            foreach (var g in d.Grants)
            {
                w.WriteStartObject();
                w.WriteString("allocation_key", g.AllocationKey);
                w.WriteString("resource", g.Resource);
                w.WriteNumber("meta_devices", g.MetaDevices);
                w.WriteNumber("share_percent", g.SharePercent);
                w.WriteNumber("memory_allowed_bytes", g.MemoryAllowedBytes);
                w.WriteNumber("memory_used_bytes", g.MemoryUsedBytes);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteNumber("others_memory_used_bytes", d.OthersMemoryUsedBytes);
            w.WriteNumber("others_processes", d.OthersProcesses);
            w.WriteEndObject();
        }
        w.WriteEndArray();
    }

    private static void ProcessArray(Utf8JsonWriter w, string name, IEnumerable<Process> processes)
    {
        w.WriteStartArray(name);
        foreach (var p in processes)
        {
            w.WriteStartObject();
            // 0 is "not in your pid namespace": null, so that no script ever signals pid 0 (its own process group).
            if (p.Pid > 0)
                w.WriteNumber("pid", p.Pid);
            else
                w.WriteNull("pid");
            w.WriteString("gpu_uuid", p.GpuUuid);
            w.WriteNumber("gpu_index", p.GpuIndex);
            w.WriteString("command", p.Command);
            if (p.HasMemoryUsedBytes)
                w.WriteNumber("memory_used_bytes", p.MemoryUsedBytes);
            else
                w.WriteNull("memory_used_bytes");
            if (p.HasSmPercent)
                w.WriteNumber("sm_percent", p.SmPercent);
            else
                w.WriteNull("sm_percent");
            w.WriteEndObject();
        }
        w.WriteEndArray();
    }

    private static void StringOrNull(Utf8JsonWriter w, string name, string value)
    {
        if (value.Length > 0)
            w.WriteString(name, value);
        else
            w.WriteNull(name);
    }

    private static string Write(bool indented, Action<Utf8JsonWriter> body)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(4096);
        using (var w = new Utf8JsonWriter(buffer, indented ? Indented : Compact))
        {
            w.WriteStartObject();
            body(w);
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }
}
