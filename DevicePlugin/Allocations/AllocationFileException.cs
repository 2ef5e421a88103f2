namespace MetaGpu.DevicePlugin.Allocations;

/// <summary>An allocation file or its directory could not be written; the message names the path and the errno.</summary>
public sealed class AllocationFileException(string message, int errno = 0) : IOException(message)
{
    /// <summary>The errno of the failed call; 0 when the failure was not a system call's.</summary>
    public int Errno { get; } = errno;
}
