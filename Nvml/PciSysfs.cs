using System.Globalization;

namespace MetaGpu.Nvml;

/// <summary>Facts about a GPU that the kernel knows and NVML does not report, read from sysfs by PCI address.</summary>
internal static class PciSysfs
{
    /// <summary>NVML's <c>00000000:07:00.0</c> as sysfs names it, <c>0000:07:00.0</c>; null when it is not a bus ID.</summary>
    public static string? ToSysfsAddress(string nvmlBusId)
    {
        var colon = nvmlBusId.IndexOf(':');
        if (colon <= 0 || nvmlBusId.Contains('/')
            || !uint.TryParse(nvmlBusId.AsSpan(0, colon), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var domain))
            return null;
        return domain.ToString("x4", CultureInfo.InvariantCulture) + nvmlBusId[colon..].ToLowerInvariant();
    }

    /// <summary><c>{sysfsRoot}/bus/pci/devices/{address}/numa_node</c>; null when missing, unreadable or -1.</summary>
    public static int? ReadNumaNode(string sysfsRoot, string nvmlBusId)
    {
        var address = ToSysfsAddress(nvmlBusId);
        if (address is null)
            return null;
        string text;
        try
        {
            text = File.ReadAllText(Path.Combine(sysfsRoot, "bus", "pci", "devices", address, "numa_node"));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
        return int.TryParse(text.AsSpan().Trim(), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var node) && node >= 0
            ? node
            : null;
    }
}
