namespace MetaGpu.Usage.Proc;

/// <summary>
/// One line of <c>/proc/&lt;pid&gt;/mountinfo</c> (proc(5)). <see cref="Root"/> is the path of the mounted directory
/// or file inside its filesystem (what a bind mount took), <see cref="MountPoint"/> where the process sees it; both
/// with the kernel's octal escapes decoded. <see cref="Major"/>:<see cref="Minor"/> name the filesystem (its
/// superblock's device), which a process cannot choose: a tmpfs or overlay it mounts itself gets a fresh anonymous
/// <c>0:N</c>.
/// </summary>
public sealed record MountInfoEntry(
    int MountId,
    int ParentId,
    uint Major,
    uint Minor,
    string Root,
    string MountPoint,
    string FsType,
    string Source);
