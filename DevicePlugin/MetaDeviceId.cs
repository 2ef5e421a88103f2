using System.Diagnostics.CodeAnalysis;
using System.Globalization;

namespace MetaGpu.DevicePlugin;

/// <summary>
/// One meta-device: share <see cref="ShareIndex"/> of the GPU <see cref="GpuUuid"/>, in the original MetaGPU's format
/// <c>cnvrg-meta-&lt;gpu index&gt;-&lt;share index&gt;-&lt;gpu uuid&gt;</c>, so nodes can move from the original plugin without
/// disturbing running pods. The physical GPU is always taken from the UUID in the ID, never from the index.
/// </summary>
public readonly record struct MetaDeviceId(int GpuIndex, int ShareIndex, string GpuUuid)
{
    public const string Prefix = "cnvrg-meta-";

    /// <summary><see cref="Prefix"/> in UTF-8, as the kubelet sends it.</summary>
    public static ReadOnlySpan<byte> Utf8Prefix => "cnvrg-meta-"u8;

    /// <summary>The kubelet's limit on a device ID.</summary>
    public const int MaxLength = 63;

    public override string ToString() =>
        string.Create(CultureInfo.InvariantCulture, $"{Prefix}{GpuIndex}-{ShareIndex}-{GpuUuid}");

    public static bool TryParse(string? id, [NotNullWhen(true)] out MetaDeviceId? result)
    {
        result = null;
        if (id is null || id.Length > MaxLength || !id.StartsWith(Prefix, StringComparison.Ordinal))
            return false;
        var rest = id.AsSpan(Prefix.Length);
        var dash1 = rest.IndexOf('-');
        if (dash1 <= 0 || !int.TryParse(rest[..dash1], NumberStyles.None, CultureInfo.InvariantCulture, out var gpu))
            return false;
        rest = rest[(dash1 + 1)..];
        var dash2 = rest.IndexOf('-');
        if (dash2 <= 0 || !int.TryParse(rest[..dash2], NumberStyles.None, CultureInfo.InvariantCulture, out var share))
            return false;
        var uuid = rest[(dash2 + 1)..];
        if (uuid.IsEmpty)
            return false;
        result = new MetaDeviceId(gpu, share, uuid.ToString());
        return true;
    }
}
