using System.Buffers;
using System.Text;

namespace MetaGpu.Usage.Proc;

/// <summary>
/// Reads a file of procfs with a bound. Procfs reports a size of 0 for its files, so the size is never asked:
/// the file is read until end of file or one byte past the cap. Any error (the process is gone: ENOENT, ESRCH;
/// a zombie's mount table: EINVAL; EACCES) is "no answer", never an exception.
/// </summary>
internal static class ProcFile
{
    private const int FirstBuffer = 16 * 1024;

    public enum Overflow
    {
        /// <summary>A file past the cap is no answer (a cut would be a different table).</summary>
        Refuse,

        /// <summary>A file past the cap gives its first cap bytes.</summary>
        Truncate,
    }

    /// <summary>The file's bytes as UTF-8 text (invalid sequences replaced), or null.</summary>
    public static string? ReadText(string path, int maxBytes, Overflow overflow)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(Math.Min(FirstBuffer, maxBytes + 1));
        try
        {
            var length = Read(path, ref buffer, maxBytes);
            if (length < 0)
                return null;
            if (length > maxBytes)
            {
                if (overflow == Overflow.Refuse)
                    return null;
                length = maxBytes;
            }
            return Encoding.UTF8.GetString(buffer, 0, length);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Bytes read, at most <paramref name="maxBytes"/> + 1 (so "over the cap" is seen), or -1 on an error.</summary>
    private static int Read(string path, ref byte[] buffer, int maxBytes)
    {
        try
        {
            using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            var length = 0;
            while (length <= maxBytes)
            {
                if (length == buffer.Length)
                {
                    var larger = ArrayPool<byte>.Shared.Rent((int)Math.Min((long)buffer.Length * 4, (long)maxBytes + 1));
                    buffer.AsSpan(0, length).CopyTo(larger);
                    ArrayPool<byte>.Shared.Return(buffer);
                    buffer = larger;
                }
                var read = RandomAccess.Read(handle, buffer.AsSpan(length, Math.Min(buffer.Length, maxBytes + 1) - length), length);
                if (read == 0)
                    break;
                length += read;
            }
            return length;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            return -1;
        }
    }
}
