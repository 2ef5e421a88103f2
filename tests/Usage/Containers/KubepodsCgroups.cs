namespace MetaGpu.Tests.Usage.Containers;

/// <summary>
/// The cgroup directories the harness's containers make in every hierarchy (runc creates the whole
/// <see cref="KubeletCgroup.Path"/>, but removes only the container's own directory on delete). Shared by every
/// container of the test process: a pod's directory goes when its last container goes, and <c>/kubepods</c> and
/// <c>/kubepods/besteffort</c> when the last container goes, and only those that did not exist before.
/// </summary>
internal static class KubepodsCgroups
{
    private const string Root = "/sys/fs/cgroup";
    private static readonly Lock Gate = new();
    private static readonly HashSet<string> Created = new(StringComparer.Ordinal);
    private static readonly Dictionary<string, int> ContainersPerPod = new(StringComparer.Ordinal);
    private static int _live;

    /// <summary>Call before runc creates <paramref name="cgroup"/>: notes which of its directories are new.</summary>
    public static void Enter(KubeletCgroup cgroup)
    {
        lock (Gate)
        {
            foreach (var hierarchy in Hierarchies())
            {
                foreach (var relative in KubeletCgroup.Parents.Append(cgroup.PodPath))
                {
                    var dir = hierarchy + relative;
                    if (!Directory.Exists(dir))
                        Created.Add(dir);
                }
            }
            ContainersPerPod[cgroup.PodUid] = ContainersPerPod.GetValueOrDefault(cgroup.PodUid) + 1;
            _live++;
        }
    }

    /// <summary>Call after runc deleted the container: removes what is left of it and of what <see cref="Enter"/> noted.</summary>
    public static void Leave(KubeletCgroup cgroup)
    {
        lock (Gate)
        {
            var hierarchies = Hierarchies();
            // runc delete removes the container's directory; this is for when it could not.
            foreach (var hierarchy in hierarchies)
                Remove(hierarchy + cgroup.Path);
            var left = ContainersPerPod.GetValueOrDefault(cgroup.PodUid) - 1;
            if (left > 0)
                ContainersPerPod[cgroup.PodUid] = left;
            else
            {
                ContainersPerPod.Remove(cgroup.PodUid);
                foreach (var hierarchy in hierarchies)
                    RemoveIfCreated(hierarchy + cgroup.PodPath);
            }
            if (--_live > 0)
                return;
            foreach (var relative in KubeletCgroup.Parents.Reverse())
                foreach (var hierarchy in hierarchies)
                    RemoveIfCreated(hierarchy + relative);
        }
    }

    /// <summary>Each mounted hierarchy's root: <c>/sys/fs/cgroup</c> itself under cgroup v2, else each v1 controller and the unified one.</summary>
    public static IReadOnlyList<string> Hierarchies()
    {
        if (File.Exists(Path.Combine(Root, "cgroup.controllers")))
            return [Root];
        if (!Directory.Exists(Root))
            return [];
        return Directory.EnumerateDirectories(Root)
            .Where(d => new DirectoryInfo(d).LinkTarget is null && File.Exists(Path.Combine(d, "cgroup.procs")))
            .Order(StringComparer.Ordinal)
            .ToArray();
    }

    private static void RemoveIfCreated(string dir)
    {
        if (Created.Remove(dir))
            Remove(dir);
    }

    /// <summary>
    /// rmdir (a cgroup directory holds only the kernel's files); the kernel refuses it for a moment while the last
    /// task is still exiting, so it retries a little. A directory that is not empty stays.
    /// </summary>
    public static void Remove(string dir)
    {
        for (var attempt = 0; attempt < 50 && Directory.Exists(dir); attempt++)
        {
            try
            {
                Directory.Delete(dir, recursive: false);
                return;
            }
            catch (DirectoryNotFoundException)
            {
                return;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                Thread.Sleep(100);
            }
        }
    }
}
