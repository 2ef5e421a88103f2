using System.Text;

namespace MetaGpu.Nvml.Native;

/// <summary>Strings across the NVML boundary: NUL-terminated UTF-8 in caller-owned buffers.</summary>
internal static class NvmlText
{
    /// <summary>The UTF-8 text up to the first NUL (or the whole buffer when there is none).</summary>
    public static string Decode(ReadOnlySpan<byte> buffer)
    {
        var end = buffer.IndexOf((byte)0);
        return Encoding.UTF8.GetString(end < 0 ? buffer : buffer[..end]);
    }

    public static unsafe string Decode(byte* buffer, int length) => Decode(new ReadOnlySpan<byte>(buffer, length));

    /// <summary><paramref name="text"/> as UTF-8 with a terminating NUL.</summary>
    public static byte[] EncodeNulTerminated(string text)
    {
        var bytes = new byte[Encoding.UTF8.GetByteCount(text) + 1];
        Encoding.UTF8.GetBytes(text, bytes);
        return bytes;
    }
}
