using System.Buffers;

namespace MetaGpu.Rpc.Http2;

/// <summary>
/// Where wire buffers come from. Small ones are pooled (frames, small messages: reused call after call); large
/// ones are plain arrays the GC reclaims, because the shared pool keeps what it is given for a minute or more, so
/// a burst of large messages would stay resident long after the peer that sent them went away.
/// </summary>
internal static class WireBuffers
{
    public const int LargestPooled = 64 * 1024;

    public static byte[] Rent(int minimumLength) => minimumLength <= LargestPooled
        ? ArrayPool<byte>.Shared.Rent(minimumLength)
        : GC.AllocateUninitializedArray<byte>(minimumLength);

    /// <summary>Gives back an array from <see cref="Rent"/>; large ones are simply dropped.</summary>
    public static void Return(byte[] array)
    {
        if (array.Length is > 0 and <= LargestPooled)
            ArrayPool<byte>.Shared.Return(array);
    }
}
