using System.Globalization;

namespace MetaGpu.DevicePlugin.Config;

/// <summary>
/// The checks on single values, shared by the file and the overrides so both accept and refuse the same things. Each
/// failure is a phrase that reads after the field's name: <c>must be 1..1000 (got 0)</c>, <c>'tight' is not one of …</c>.
/// </summary>
internal static class ConfigValues
{
    /// <summary>How a file error puts field and phrase together: <c>metaGpus must be …</c>, <c>policy: 'tight' is not …</c>.</summary>
    public static string Join(string field, string phrase) =>
        phrase.StartsWith('\'') ? $"{field}: {phrase}" : $"{field} {phrase}";

    public static string? CheckMetaGpus(int value) =>
        value is >= ResourceSharing.MinMetaGpus and <= ResourceSharing.MaxMetaGpus
            ? null
            : $"must be {ResourceSharing.MinMetaGpus}..{ResourceSharing.MaxMetaGpus} (got {value})";

    public static string MetaGpusNotAnInteger(string got) =>
        $"must be an integer {ResourceSharing.MinMetaGpus}..{ResourceSharing.MaxMetaGpus} (got {got})";

    /// <summary>An integer as written; a sign is allowed so that <c>-5</c> is reported as out of range, not as garbage.</summary>
    public static bool TryParseInt(string raw, out int value) =>
        int.TryParse(raw, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out value);

    public static bool TryParseXid(string raw, out ulong xid) =>
        ulong.TryParse(raw, NumberStyles.None, CultureInfo.InvariantCulture, out xid);

    public static string NotAnXid(string raw) => $"{ConfigText.Quote(raw)} is not an XID (a non-negative integer)";

    public static string? CheckResourceName(string name) =>
        ResourceNames.IsValid(name, out var why) ? null : $"{ConfigText.Quote(name)} is not a valid extended resource name: {why}";

    public static string NotADuration(string raw) => $"{ConfigText.Quote(raw)} is not a duration ({GoDuration.Examples})";

    /// <summary>NVML's longest UUID: its buffer, <c>NVML_DEVICE_UUID_V2_BUFFER_SIZE</c>, is 96 bytes with the NUL.</summary>
    private const int MaxUuidLength = 95;

    /// <summary>
    /// A <c>gpus</c> entry in its canonical form: <c>"*"</c>, a UUID as written, or an index without leading zeros
    /// (so <c>03</c> and <c>3</c> are seen as the same GPU).
    /// </summary>
    public static bool TryNormalizeGpu(string raw, out string normalized, out GpuEntryKind kind)
    {
        normalized = raw;
        kind = GpuEntryKind.All;
        if (raw == ResourceSharing.AllGpus)
            return true;
        if ((raw.StartsWith("GPU-", StringComparison.Ordinal) || raw.StartsWith("MIG-", StringComparison.Ordinal))
            && raw.Length is > 4 and <= MaxUuidLength && IsPrintableWord(raw))
        {
            kind = GpuEntryKind.Uuid;
            return true;
        }
        if (raw.Length > 0 && int.TryParse(raw, NumberStyles.None, CultureInfo.InvariantCulture, out var index))
        {
            normalized = index.ToString(CultureInfo.InvariantCulture);
            kind = GpuEntryKind.Index;
            return true;
        }
        return false;
    }

    private static bool IsPrintableWord(string s)
    {
        foreach (var c in s)
        {
            if (char.IsWhiteSpace(c) || char.IsControl(c))
                return false;
        }
        return true;
    }

    public static string NotAGpu(string raw) =>
        $"{ConfigText.Quote(raw)} is not \"*\", a GPU UUID (GPU-…, MIG-…) or a GPU index (0, 1, …)";

    /// <summary>Comma-separated XIDs from a flag or variable; empty means an empty list.</summary>
    public static bool TryParseXidList(string raw, out List<ulong> xids, out string? error)
    {
        xids = [];
        error = null;
        if (raw.Trim().Length == 0)
            return true;
        foreach (var part in raw.Split(','))
        {
            var item = part.Trim();
            if (!TryParseXid(item, out var xid))
            {
                error = NotAnXid(item);
                return false;
            }
            if (!xids.Contains(xid))
                xids.Add(xid);
        }
        return true;
    }
}

internal enum GpuEntryKind
{
    All,
    Uuid,
    Index,
}
