namespace MetaGpu.Usage.Proc;

/// <summary>
/// Who a process is, as the kernel shows it: the allocations it holds (keys of the allocation files mounted into
/// it, several for several resources, none for a process of no allocation), its container and pod by cgroup, and
/// its command line. <see cref="StartTicks"/> (field 22 of its stat) was the same before and after the reads, so
/// it all describes one process; a signal sent later must check it again.
/// </summary>
public sealed record ProcessIdentity(
    int Pid,
    ulong StartTicks,
    IReadOnlyList<string> AllocationKeys,
    CgroupIdentity Cgroup,
    string CommandLine);
