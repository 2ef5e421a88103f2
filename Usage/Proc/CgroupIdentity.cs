namespace MetaGpu.Usage.Proc;

/// <summary>
/// What a process's cgroup path says about it: the container runtime's ID of its container (64 lowercase hex) and
/// the UID of its pod (dashed, lowercase; a static pod's UID is 32 hex digits, kept as it is). Either is null when
/// the path does not say (not in a container, not in a pod, a layout we do not know).
/// </summary>
public sealed record CgroupIdentity(string? ContainerId, string? PodUid)
{
    public static readonly CgroupIdentity Unknown = new(null, null);
}
