namespace MetaGpu.Usage.Proc;

/// <summary>
/// Where the daemon's state directory lives, as the kernel names it to every mount namespace: the filesystem
/// (<see cref="Major"/>:<see cref="Minor"/>) and the path of the allocations directory inside that filesystem
/// (<see cref="AllocationsRoot"/>, e.g. <c>/var/lib/metagpu/allocations</c> when the host's root filesystem holds
/// it, or <c>/metagpu/allocations</c> when <c>/var/lib</c> is a filesystem of its own). A container's bind mount of
/// an allocation file shows exactly that device and <c>AllocationsRoot/KEY.json</c> as its root, whatever path the
/// daemon's own container mounted the directory at.
/// </summary>
public sealed record StateDirMount(uint Major, uint Minor, string AllocationsRoot)
{
    /// <summary>
    /// The mount of <paramref name="own"/> (the daemon's own mountinfo) that holds <paramref name="stateDirectory"/>:
    /// the one whose mount point is the longest whole-component prefix of the directory's absolute, normalised path
    /// (the last such line when mounts are stacked on one point: it is the one on top). Null when none is (a
    /// mountinfo without "/", or a relative path that cannot be made absolute).
    /// </summary>
    public static StateDirMount? Locate(IReadOnlyList<MountInfoEntry> own, string stateDirectory)
    {
        var path = Normalise(stateDirectory);
        if (path is null)
            return null;
        MountInfoEntry? best = null;
        string? bestPoint = null;
        foreach (var entry in own)
        {
            // The kernel writes mount points absolute and clean; only a trailing slash is trimmed, no path resolved.
            var mountPoint = entry.MountPoint.StartsWith('/') ? TrimSlash(entry.MountPoint) : null;
            if (mountPoint is null || !IsUnder(path, mountPoint) || mountPoint.Length < (bestPoint?.Length ?? 0))
                continue;
            best = entry;
            bestPoint = mountPoint;
        }
        if (best is null || bestPoint is null)
            return null;
        // The state directory below the mount point ("" when it is the mount point), then the same below the root.
        var relative = path == bestPoint ? "" : bestPoint == "/" ? path : path[bestPoint.Length..];
        return new StateDirMount(best.Major, best.Minor, best.Root.TrimEnd('/') + relative + "/allocations");
    }

    /// <summary><paramref name="path"/> is <paramref name="prefix"/> or below it, by whole components.</summary>
    private static bool IsUnder(string path, string prefix) =>
        prefix == "/"
        || (path.StartsWith(prefix, StringComparison.Ordinal) && (path.Length == prefix.Length || path[prefix.Length] == '/'));

    private static string TrimSlash(string path) => path.Length > 1 && path.EndsWith('/') ? path.TrimEnd('/') is { Length: > 0 } t ? t : "/" : path;

    /// <summary>Absolute, without <c>.</c>, <c>..</c>, doubled or trailing slashes; null for what is not a path.</summary>
    private static string? Normalise(string path)
    {
        if (path.Length == 0 || path.Contains('\0'))
            return null;
        try
        {
            return TrimSlash(Path.GetFullPath(path));
        }
        catch (Exception e) when (e is ArgumentException or PathTooLongException or NotSupportedException or System.Security.SecurityException)
        {
            return null;
        }
    }
}
