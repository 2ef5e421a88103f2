namespace MetaGpu.Fuzz;

/// <summary>
/// One entry point under fuzzing. <see cref="Run"/> returns normally for every input the product handles as it
/// should (refused input included); it throws <see cref="FuzzFinding"/> or lets an unexpected exception escape
/// when the product misbehaves, and libFuzzer records the input as a crash.
/// </summary>
internal interface IFuzzTarget
{
    void Run(ReadOnlySpan<byte> input);
}

/// <summary>The product misbehaved in a way that did not throw by itself (an error log, an INTERNAL_ERROR on the wire).</summary>
internal sealed class FuzzFinding(string message) : Exception(message);
