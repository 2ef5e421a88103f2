using MetaGpu.DevicePlugin.Allocations;

namespace MetaGpu.Usage.Proc;

/// <summary>
/// The allocations a process holds, read from its mount table: an entry counts only when its filesystem is the one
/// holding our state directory (same major:minor) and its root is <c>ALLOCATIONS_ROOT/KEY.json</c> with a
/// well-formed key. Both facts come from the kernel. A process in a user namespace of its own can mount a tmpfs and
/// give a file there the same name and path, or bind-mount a file of that name from elsewhere on the node's disk;
/// the first has another device (a fresh <c>0:N</c>), the second another root, so neither matches. Without host
/// privileges nothing in a container can reach a file in the state directory other than the ones mounted into it.
/// The mount point is ignored: both of a container's mounts of its file give the same key.
/// </summary>
public static class AllocationMounts
{
    private const string Extension = ".json";

    /// <summary>
    /// What the kernel appends to a root whose file was unlinked: a running container keeps the inode it was given
    /// when the daemon later replaces the file (temp file + rename). It was still our file, under our key.
    /// </summary>
    private const string DeletedSuffix = "//deleted";

    /// <summary>The distinct keys, in ordinal order; empty when the process holds none.</summary>
    public static IReadOnlyList<string> FindKeys(IReadOnlyList<MountInfoEntry> process, StateDirMount state)
    {
        List<string>? keys = null;
        var prefix = state.AllocationsRoot + "/";
        foreach (var entry in process)
        {
            if (entry.Major != state.Major || entry.Minor != state.Minor || !entry.Root.StartsWith(prefix, StringComparison.Ordinal))
                continue;
            var name = entry.Root.AsSpan(prefix.Length);
            if (name.EndsWith(DeletedSuffix, StringComparison.Ordinal))
                name = name[..^DeletedSuffix.Length];
            if (!name.EndsWith(Extension, StringComparison.Ordinal))
                continue;
            var key = name[..^Extension.Length];
            if (!AllocationKey.IsValid(key))
                continue;
            keys ??= [];
            var text = key.ToString();
            if (!keys.Contains(text))
                keys.Add(text);
        }
        if (keys is null)
            return [];
        keys.Sort(StringComparer.Ordinal);
        return keys;
    }
}
