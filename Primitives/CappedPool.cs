using System.Buffers;

namespace MetaGpu.Primitives;

/// <summary>
/// Arrays from the shared pool up to <see cref="LargestPooled"/> elements, plain arrays above: a peer's huge request
/// gets an array the collector takes back, so that it does not stay in the pool (the shared pool keeps what it is
/// given for a minute or more).
/// </summary>
internal static class CappedPool<T>
{
    public const int LargestPooled = 16 * 1024;

    public static T[] Rent(int minimumLength) => minimumLength switch
    {
        0 => [],
        <= LargestPooled => ArrayPool<T>.Shared.Rent(minimumLength),
        _ => new T[minimumLength],
    };

    /// <summary>Gives back an array from <see cref="Rent"/>; empty and large ones are simply dropped.</summary>
    public static void Return(T[] array)
    {
        if (array.Length is > 0 and <= LargestPooled)
            ArrayPool<T>.Shared.Return(array);
    }
}
