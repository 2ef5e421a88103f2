using System.Text;

namespace MetaGpu.Rpc.Http2;

/// <summary>
/// The header names and values a connection's peer repeats call after call and <see cref="HeaderField"/> does not
/// know as literals (each method's <c>:path</c>, <c>:authority</c>, <c>user-agent</c>), kept as strings, so that
/// decoding them again allocates nothing: they were about 15% of the bytes the daemon allocated per
/// GetDevicePluginOptions call (allocation samples at the GC's slow path). Direct-mapped by length and two bytes: a
/// value seen before returns its string after one comparison; any other replaces the entry in its slot, so a peer
/// that sends ever-new values costs a copy of each (within its header list limit), and a connection holds at most
/// <see cref="Slots"/> texts of <see cref="MaxLength"/> bytes here (about 7 KB with their strings). Used on the
/// connection's read loop only.
/// </summary>
internal sealed class HeaderStrings
{
    internal const int Slots = 16;
    /// <summary>
    /// Longer texts are not kept. The kubelet's longest :path, GetPreferredAllocation's, has 45 bytes; its
    /// :authority is the plugin's socket path (63 bytes for ours in the default directory).
    /// </summary>
    internal const int MaxLength = 128;

    private readonly byte[]?[] _bytes = new byte[]?[Slots];
    private readonly string?[] _strings = new string?[Slots];

    /// <summary>The Latin-1 string of <paramref name="text"/>: the same instance as last time when it is in its slot.</summary>
    public string Get(ReadOnlySpan<byte> text)
    {
        if (text.IsEmpty || text.Length > MaxLength)
            return Encoding.Latin1.GetString(text);
        var slot = (int)((uint)(text.Length * 31 + text[^1] * 7 + text[text.Length / 2]) % Slots);
        if (_bytes[slot] is { } known && text.SequenceEqual(known))
            return _strings[slot]!;
        var s = Encoding.Latin1.GetString(text);
        _bytes[slot] = text.ToArray();
        _strings[slot] = s;
        return s;
    }
}
