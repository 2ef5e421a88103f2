using System.Buffers;
using System.Text;

namespace MetaGpu.DevicePlugin.Allocations;

/// <summary>
/// The name of a container's allocation file: a function of its resource and its meta-device IDs alone, so a repeated
/// Allocate, a restarted daemon and the usage loop (which sees the IDs again in pod-resources) all arrive at the same
/// name. The IDs are exclusive while allocated, so two live containers never share a key.
/// </summary>
public static class AllocationKey
{
    /// <summary>40 hex digits: the first 20 bytes of a SHA-256.</summary>
    public const int Length = 40;

    /// <summary>
    /// Lowercase hex of the first 20 bytes of SHA-256 over the UTF-8 of
    /// <c>resource + "\n" + string.Join("\n", ids sorted ordinal)</c>.
    /// </summary>
    public static string For(string resource, IEnumerable<string> ids)
    {
        ArgumentNullException.ThrowIfNull(resource);
        ArgumentNullException.ThrowIfNull(ids);
        var sorted = new List<string>(ids);
        sorted.Sort(StringComparer.Ordinal); // equal IDs are the same text: their order cannot show
        return ForSorted(resource, sorted);
    }

    /// <summary><see cref="For"/> of IDs already in ordinal order (an <see cref="AllocationRecord"/>'s), without sorting them again.</summary>
    internal static string ForSorted(string resource, IReadOnlyList<string> sortedIds)
    {
        // The text is encoded straight into one buffer (no joined string, no second copy as bytes).
        var length = Encoding.UTF8.GetByteCount(resource) + 1 + Math.Max(0, sortedIds.Count - 1);
        for (var i = 0; i < sortedIds.Count; i++)
            length += Encoding.UTF8.GetByteCount(sortedIds[i]);
        var rented = length <= 4096 ? null : ArrayPool<byte>.Shared.Rent(length);
        var text = rented is null ? stackalloc byte[length] : rented.AsSpan(0, length);
        var at = Encoding.UTF8.GetBytes(resource, text);
        text[at++] = (byte)'\n';
        for (var i = 0; i < sortedIds.Count; i++)
        {
            if (i > 0)
                text[at++] = (byte)'\n';
            at += Encoding.UTF8.GetBytes(sortedIds[i], text[at..]);
        }
        Span<byte> hash = stackalloc byte[Sha256.HashSizeInBytes];
        Sha256.HashData(text, hash);
        if (rented is not null)
            ArrayPool<byte>.Shared.Return(rented);
        return Convert.ToHexStringLower(hash[..(Length / 2)]);
    }

    /// <summary>Exactly <see cref="Length"/> characters, each <c>[0-9a-f]</c>.</summary>
    public static bool IsValid(ReadOnlySpan<char> key)
    {
        if (key.Length != Length)
            return false;
        foreach (var c in key)
        {
            if (c is not (>= '0' and <= '9' or >= 'a' and <= 'f'))
                return false;
        }
        return true;
    }
}
