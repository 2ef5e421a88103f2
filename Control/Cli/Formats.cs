using System.Globalization;
using MetaGpu.Control.V1;

namespace MetaGpu.Control.Cli;

/// <summary>How tables write numbers, times and names: memory in MiB as nvidia-smi does, shares in percent.</summary>
internal static class Formats
{
    private const ulong MiB = 1024 * 1024;

    public static string Mib(ulong bytes) => (bytes / MiB).ToString(CultureInfo.InvariantCulture) + "MiB";

    public static string UsedOf(ulong used, ulong of) => $"{Mib(used)} / {Mib(of)}";

    /// <summary>30%, 33.3%: shares are often thirds.</summary>
    public static string Percent(double percent) => percent.ToString("0.#", CultureInfo.InvariantCulture) + "%";

    public static string Percent(uint percent) => percent.ToString(CultureInfo.InvariantCulture) + "%";

    public static string Number(long n) => n.ToString(CultureInfo.InvariantCulture);

    /// <summary>A pid as the caller sees it; 0 (not in the caller's pid namespace) as '-'.</summary>
    public static string Pid(int pid) => pid > 0 ? Number(pid) : "-";

    /// <summary>How long ago the daemon's latest usage refresh was: "3s ago", "never".</summary>
    public static string Ago(long unixMs, DateTimeOffset now)
    {
        if (unixMs <= 0)
            return "never";
        var ms = now.ToUnixTimeMilliseconds() - unixMs;
        if (ms < 1000)
            return "just now";
        var s = ms / 1000;
        return s < 60 ? $"{s}s ago" : s < 3600 ? $"{s / 60}m{s % 60}s ago" : $"{s / 3600}h{s / 60 % 60}m ago";
    }

    /// <summary>The refresh time itself, in UTC, for <c>info</c>.</summary>
    public static string Timestamp(long unixMs) => unixMs <= 0
        ? "never"
        : DateTimeOffset.FromUnixTimeMilliseconds(Math.Min(unixMs, 253402300799999)).ToString("yyyy-MM-dd HH:mm:ss 'UTC'", CultureInfo.InvariantCulture);

    /// <summary>namespace/pod/container, or the allocation's short key while the kubelet has not named it.</summary>
    public static string Container(AllocationRef? a)
    {
        if (a is null)
            return "-";
        if (a.Pod.Length == 0)
            return "unnamed, allocation " + ShortKey(a.Key);
        return Text.Printable($"{a.Namespace}/{a.Pod}/{a.Container}", 120);
    }

    public static string ShortKey(string key) => Text.Printable(key.Length > 12 ? key[..12] : key, 12);

    public static string OrDash(string? text, int max = 120) => string.IsNullOrEmpty(text) ? "-" : Text.Printable(text, max);
}
