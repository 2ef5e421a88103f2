using System.Runtime.InteropServices;

namespace MetaGpu.Fuzz;

/// <summary>
/// SharpFuzz's instrumentation writes edge counts through <c>SharpFuzz.Common.Trace.SharedMem</c>; libFuzzer mode
/// points it at the shared map. Outside libFuzzer (replay, warm-up, capture) instrumented code would write through a
/// null pointer, so it gets a private scratch map instead.
/// </summary>
internal static unsafe class CoverageMap
{
    private const int Size = 64 * 1024;

    public static void UseScratch()
    {
        if (SharpFuzz.Common.Trace.SharedMem == null)
            SharpFuzz.Common.Trace.SharedMem = (byte*)NativeMemory.AllocZeroed(Size);
    }
}
