namespace MetaGpu.Rpc.Hpack;

/// <summary>The 61-entry static table of RFC 7541 Appendix A. Indices are 1-based, as on the wire.</summary>
internal static class HpackStaticTable
{
    public const int Count = 61;

    private static readonly (string Name, string Value)[] s_entries =
    [
        (":authority", ""),
        (":method", "GET"),
        (":method", "POST"),
        (":path", "/"),
        (":path", "/index.html"),
        (":scheme", "http"),
        (":scheme", "https"),
        (":status", "200"),
        (":status", "204"),
        (":status", "206"),
        (":status", "304"),
        (":status", "400"),
        (":status", "404"),
        (":status", "500"),
        ("accept-charset", ""),
        ("accept-encoding", "gzip, deflate"),
        ("accept-language", ""),
        ("accept-ranges", ""),
        ("accept", ""),
        ("access-control-allow-origin", ""),
        ("age", ""),
        ("allow", ""),
        ("authorization", ""),
        ("cache-control", ""),
        ("content-disposition", ""),
        ("content-encoding", ""),
        ("content-language", ""),
        ("content-length", ""),
        ("content-location", ""),
        ("content-range", ""),
        ("content-type", ""),
        ("cookie", ""),
        ("date", ""),
        ("etag", ""),
        ("expect", ""),
        ("expires", ""),
        ("from", ""),
        ("host", ""),
        ("if-match", ""),
        ("if-modified-since", ""),
        ("if-none-match", ""),
        ("if-range", ""),
        ("if-unmodified-since", ""),
        ("last-modified", ""),
        ("link", ""),
        ("location", ""),
        ("max-forwards", ""),
        ("proxy-authenticate", ""),
        ("proxy-authorization", ""),
        ("range", ""),
        ("referer", ""),
        ("refresh", ""),
        ("retry-after", ""),
        ("server", ""),
        ("set-cookie", ""),
        ("strict-transport-security", ""),
        ("transfer-encoding", ""),
        ("user-agent", ""),
        ("vary", ""),
        ("via", ""),
        ("www-authenticate", ""),
    ];

    // Slot 0 is unused so the wire index can be used directly.
    private static readonly byte[][] s_names = ToBytes(static e => e.Name);
    private static readonly byte[][] s_values = ToBytes(static e => e.Value);

    // The encoder looks names up on every field; grouping indices by name length means a lookup
    // compares bytes against a handful of candidates instead of all 61. Within a group indices
    // ascend, so the first name hit is the lowest index for that name.
    private static readonly (int[] Start, int[] Indices) s_byLength = BuildLengthIndex();

    public static ReadOnlySpan<byte> Name(int index) => s_names[index];

    public static ReadOnlySpan<byte> Value(int index) => s_values[index];

    /// <summary>
    /// Returns the index of an entry matching both name and value, or 0. <paramref name="nameIndex"/>
    /// receives the lowest index with a matching name, or 0.
    /// </summary>
    public static int Find(ReadOnlySpan<byte> name, ReadOnlySpan<byte> value, out int nameIndex)
    {
        nameIndex = 0;
        (int[] start, int[] indices) = s_byLength;
        if (name.Length + 1 >= start.Length)
        {
            return 0;
        }

        int end = start[name.Length + 1];
        for (int i = start[name.Length]; i < end; i++)
        {
            int index = indices[i];
            if (!name.SequenceEqual(s_names[index]))
            {
                continue;
            }

            if (nameIndex == 0)
            {
                nameIndex = index;
            }

            if (value.SequenceEqual(s_values[index]))
            {
                return index;
            }
        }

        return 0;
    }

    private static byte[][] ToBytes(Func<(string Name, string Value), string> select)
    {
        var result = new byte[Count + 1][];
        result[0] = [];
        for (int i = 0; i < Count; i++)
        {
            string s = select(s_entries[i]);
            var bytes = new byte[s.Length];
            for (int j = 0; j < s.Length; j++)
            {
                bytes[j] = (byte)s[j];
            }

            result[i + 1] = bytes;
        }

        return result;
    }

    private static (int[] Start, int[] Indices) BuildLengthIndex()
    {
        int maxLength = 0;
        for (int i = 1; i <= Count; i++)
        {
            maxLength = Math.Max(maxLength, s_names[i].Length);
        }

        // Counting sort by name length; start[len]..start[len + 1] is one group.
        var start = new int[maxLength + 2];
        for (int i = 1; i <= Count; i++)
        {
            start[s_names[i].Length + 1]++;
        }

        for (int len = 1; len < start.Length; len++)
        {
            start[len] += start[len - 1];
        }

        var indices = new int[Count];
        var fill = (int[])start.Clone();
        for (int i = 1; i <= Count; i++)
        {
            indices[fill[s_names[i].Length]++] = i;
        }

        return (start, indices);
    }
}
