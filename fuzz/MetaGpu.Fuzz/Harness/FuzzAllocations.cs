using MetaGpu.DevicePlugin.Allocations;

namespace MetaGpu.Fuzz;

/// <summary>
/// The allocation files a fuzzed Allocate writes, in the scratch directory (tmpfs where the machine has one, see
/// fuzz/run). Every distinct request is a new file, so a target starts over with a fresh directory now and then
/// (<see cref="Fresh"/>) rather than fill the disk with millions of them.
/// </summary>
internal static class FuzzAllocations
{
    private static int _generation;

    /// <summary>An empty state directory of its own, the previous one removed.</summary>
    public static AllocationFiles Fresh()
    {
        var generation = Interlocked.Increment(ref _generation);
        var previous = Path.Combine(ScratchDirectory.Path, "state-" + (generation - 1));
        try
        {
            if (Directory.Exists(previous))
                Directory.Delete(previous, recursive: true);
        }
        catch (IOException)
        {
        }
        return new AllocationFiles(Path.Combine(ScratchDirectory.Path, "state-" + generation));
    }
}
