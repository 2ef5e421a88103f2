using System.Buffers;
using System.Text.Json;

namespace MetaGpu.DevicePlugin.Allocations;

/// <summary>
/// The allocation file's bytes: indented JSON, camelCase names in a fixed order, a final newline, numbers as JSON
/// numbers. Applications read it (docs/usage.md documents it); the daemon reads it back. The reader is total: any
/// input gives a record or null, never an exception, and it accepts only what the writer could have written (plus
/// unknown members, ignored, so version 1 can grow).
/// </summary>
public static class AllocationJson
{
    /// <summary>
    /// The most an allocation file may be. A meta-device ID costs about 66 bytes in the file, so this holds about
    /// 15,000 of them: more than a whole 16-GPU node at 100 meta-devices per GPU (1,600) or at 1,000 per GPU
    /// (16,000 would not fit, and would be a 1 MiB Allocate request to begin with).
    /// </summary>
    public const int MaxBytes = 1024 * 1024;

    public const string MaxBytesText = "1 MiB";

    private static readonly JsonWriterOptions WriterOptions = new() { Indented = true, IndentSize = 2, NewLine = "\n" };

    public static byte[] Write(AllocationRecord record)
    {
        ArgumentNullException.ThrowIfNull(record);
        var buffer = new ArrayBufferWriter<byte>(512 + 72 * record.DeviceIds.Count);
        using (var w = new Utf8JsonWriter(buffer, WriterOptions))
        {
            w.WriteStartObject();
            w.WriteNumber("schemaVersion", AllocationRecord.SchemaVersion);
            w.WriteString("resource", record.Resource);
            w.WriteString("key", record.Key);
            w.WriteNumber("request", record.Request);
            w.WriteNumber("memoryLimitMiB", record.MemoryLimitMiB);
            w.WriteStartArray("gpus");
            foreach (var g in record.Gpus)
            {
                w.WriteStartObject();
                w.WriteString("uuid", g.Uuid);
                w.WriteNumber("index", g.Index);
                w.WriteNumber("metaDevices", g.MetaDevices);
                w.WriteNumber("metaGpus", g.MetaGpus);
                w.WriteNumber("share", g.Share);
                w.WriteNumber("memoryLimitMiB", g.MemoryLimitMiB);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            // Last: the longest part, so the head of the file is what a person looks for.
            w.WriteStartArray("deviceIds");
            foreach (var id in record.DeviceIds)
                w.WriteStringValue(id);
            w.WriteEndArray();
            w.WriteEndObject();
        }
        buffer.Write("\n"u8);
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>The record in <paramref name="json"/>, or null when it is not a valid version-1 allocation file.</summary>
    public static AllocationRecord? TryRead(ReadOnlyMemory<byte> json)
    {
        // JsonDocument leaves invalid UTF-8 inside strings to GetString, which throws: check the whole text first.
        if (json.Length > MaxBytes || !System.Text.Unicode.Utf8.IsValid(json.Span))
            return null;
        try
        {
            using var document = JsonDocument.Parse(json, new JsonDocumentOptions { MaxDepth = 8 });
            return Read(document.RootElement);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static AllocationRecord? Read(JsonElement root)
    {
        if (root.ValueKind != JsonValueKind.Object)
            return null;
        int? version = null, request = null;
        ulong? memory = null;
        string? resource = null, key = null;
        List<string>? ids = null;
        List<AllocationGpu>? gpus = null;
        foreach (var p in root.EnumerateObject())
        {
            // A member given twice is not something the writer makes; refuse rather than pick one.
            var ok = p.Name switch
            {
                "schemaVersion" => version is null && TryInt(p.Value, out version),
                "resource" => resource is null && TryString(p.Value, out resource),
                "key" => key is null && TryString(p.Value, out key),
                "request" => request is null && TryInt(p.Value, out request),
                "memoryLimitMiB" => memory is null && TryULong(p.Value, out memory),
                "gpus" => gpus is null && TryGpus(p.Value, out gpus),
                "deviceIds" => ids is null && TryIds(p.Value, out ids),
                _ => true,
            };
            if (!ok)
                return null;
        }
        if (version != AllocationRecord.SchemaVersion || resource is null || key is null || request is null || memory is null || gpus is null || ids is null)
            return null;
        if (!AllocationKey.IsValid(key) || request != ids.Count || gpus.Count == 0)
            return null;
        ulong memorySum = 0;
        long given = 0;
        var uuids = new HashSet<string>(StringComparer.Ordinal);
        foreach (var g in gpus)
        {
            if (!uuids.Add(g.Uuid) || g.MemoryLimitMiB > ulong.MaxValue - memorySum)
                return null;
            memorySum += g.MemoryLimitMiB;
            given += g.MetaDevices;
        }
        if (given != request || memorySum != memory || AllocationKey.For(resource, ids) != key)
            return null;
        return new AllocationRecord(resource, key, ids, request.Value, memory.Value, gpus);
    }

    private static bool TryGpus(JsonElement e, out List<AllocationGpu>? gpus)
    {
        gpus = null;
        if (e.ValueKind != JsonValueKind.Array)
            return false;
        var list = new List<AllocationGpu>();
        foreach (var item in e.EnumerateArray())
        {
            if (TryGpu(item) is not { } gpu)
                return false;
            list.Add(gpu);
        }
        gpus = list;
        return true;
    }

    private static AllocationGpu? TryGpu(JsonElement e)
    {
        if (e.ValueKind != JsonValueKind.Object)
            return null;
        string? uuid = null;
        int? index = null, given = null, metaGpus = null;
        double? share = null;
        ulong? memory = null;
        foreach (var p in e.EnumerateObject())
        {
            var ok = p.Name switch
            {
                "uuid" => uuid is null && TryString(p.Value, out uuid),
                "index" => index is null && TryInt(p.Value, out index),
                "metaDevices" => given is null && TryInt(p.Value, out given),
                "metaGpus" => metaGpus is null && TryInt(p.Value, out metaGpus),
                "share" => share is null && TryDouble(p.Value, out share),
                "memoryLimitMiB" => memory is null && TryULong(p.Value, out memory),
                _ => true,
            };
            if (!ok)
                return null;
        }
        if (uuid is null || index is not >= 0 || given is not >= 1 || metaGpus is null || metaGpus < given || share is not (>= 0 and <= 1) || memory is null)
            return null;
        return new AllocationGpu(uuid, index.Value, given.Value, metaGpus.Value, share.Value, memory.Value);
    }

    /// <summary>Distinct, non-empty, no longer than a kubelet device ID, in ordinal order (as written).</summary>
    private static bool TryIds(JsonElement e, out List<string>? ids)
    {
        ids = null;
        if (e.ValueKind != JsonValueKind.Array)
            return false;
        var list = new List<string>();
        foreach (var item in e.EnumerateArray())
        {
            if (!TryString(item, out var id) || id!.Length > MetaDeviceId.MaxLength ||
                list.Count > 0 && string.CompareOrdinal(list[^1], id) >= 0)
                return false;
            list.Add(id);
        }
        if (list.Count == 0)
            return false;
        ids = list;
        return true;
    }

    private static bool TryString(JsonElement e, out string? value)
    {
        value = e.ValueKind == JsonValueKind.String ? e.GetString() : null;
        return !string.IsNullOrEmpty(value);
    }

    private static bool TryInt(JsonElement e, out int? value)
    {
        value = e.ValueKind == JsonValueKind.Number && e.TryGetInt32(out var v) ? v : null;
        return value is not null;
    }

    private static bool TryULong(JsonElement e, out ulong? value)
    {
        value = e.ValueKind == JsonValueKind.Number && e.TryGetUInt64(out var v) ? v : null;
        return value is not null;
    }

    private static bool TryDouble(JsonElement e, out double? value)
    {
        value = e.ValueKind == JsonValueKind.Number && e.TryGetDouble(out var v) && double.IsFinite(v) ? v : null;
        return value is not null;
    }
}
