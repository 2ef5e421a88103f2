namespace MetaGpu.Usage.Proc;

/// <summary>
/// The parser of <c>/proc/&lt;pid&gt;/cgroup</c>: <c>ID:CONTROLLERS:PATH</c> lines, many under cgroup v1 (one per
/// hierarchy), one <c>0::PATH</c> under v2, both on a hybrid host. The path is read component by component, so every
/// layout of the kubelet's two cgroup drivers and of the runtimes is one rule:
/// <list type="bullet">
/// <item>the pod is the first component naming one: <c>…kubepods…-pod&lt;uid with _&gt;.slice</c> (systemd driver,
/// also kind's <c>kubelet-kubepods-…</c>) or <c>pod&lt;uid&gt;</c> (cgroupfs driver);</item>
/// <item>the container is the component right below the pod (or, outside a pod, the first component that names
/// one): <c>cri-containerd-ID.scope</c>, <c>crio-ID.scope</c>, <c>docker-ID.scope</c>, <c>libpod-ID.scope</c>
/// (systemd), <c>crio-ID</c> or a bare <c>ID</c> (cgroupfs, docker's <c>/docker/ID</c>). CRI-O's
/// <c>crio-conmon-ID</c> is its monitor process, not the container: pod, no container.</item>
/// </list>
/// The first (outermost) match wins: what a container nests below its own cgroup (a runtime inside it, or a forged
/// <c>pod…</c> directory where cgroups are delegated) cannot replace what the node put above it, and a node that is
/// itself a container (kind: <c>/docker/ID/kubelet.slice/…</c>) only adds components above the pod. Components
/// <c>..</c> (the path as seen from another cgroup namespace, e.g. the daemon's own) are skipped.
/// Lines are tried in one order, name=systemd, memory, pids, the v2 line, then the rest, and the first whose path
/// names a pod or a container gives both fields. Total: anything else gives <see cref="CgroupIdentity.Unknown"/>.
/// </summary>
public static class CgroupPath
{
    /// <summary>The most of a cgroup file a caller reads (64 KiB; a v1 file is about a dozen lines).</summary>
    public const int MaxBytes = 64 * 1024;

    private const int ContainerIdLength = 64;

    public static CgroupIdentity Parse(string text)
    {
        // Lowest rank wins; ties go to the earlier line.
        var best = CgroupIdentity.Unknown;
        var bestRank = int.MaxValue;
        var rest = text.AsSpan();
        while (!rest.IsEmpty)
        {
            var end = rest.IndexOf('\n');
            var line = end < 0 ? rest : rest[..end];
            rest = end < 0 ? default : rest[(end + 1)..];
            var first = line.IndexOf(':');
            if (first < 0)
                continue;
            var second = line[(first + 1)..].IndexOf(':');
            if (second < 0)
                continue;
            var hierarchy = line[..first];
            var controllers = line.Slice(first + 1, second);
            // The path may itself hold ':' (a cgroup's name may).
            var path = line[(first + second + 2)..];
            var rank = Rank(hierarchy, controllers);
            if (rank >= bestRank)
                continue;
            var identity = FromPath(path);
            if (identity.ContainerId is null && identity.PodUid is null)
                continue;
            best = identity;
            bestRank = rank;
        }
        return best;
    }

    private static int Rank(ReadOnlySpan<char> hierarchy, ReadOnlySpan<char> controllers)
    {
        if (HasController(controllers, "name=systemd"))
            return 0;
        if (HasController(controllers, "memory"))
            return 1;
        if (HasController(controllers, "pids"))
            return 2;
        if (hierarchy.SequenceEqual("0") && controllers.IsEmpty)
            return 3;
        return 4;
    }

    private static bool HasController(ReadOnlySpan<char> list, string name)
    {
        foreach (var range in list.Split(','))
        {
            if (list[range].SequenceEqual(name))
                return true;
        }
        return false;
    }

    /// <summary>The pod and container one path names; both null when it names neither.</summary>
    internal static CgroupIdentity FromPath(ReadOnlySpan<char> path)
    {
        string? pod = null;
        string? container = null;
        var belowPod = false;
        foreach (var range in path.Split('/'))
        {
            var component = path[range];
            if (component.IsEmpty || component.SequenceEqual("..") || component.SequenceEqual("."))
                continue;
            if (belowPod)
            {
                // Right below the pod: the container (or conmon, or the pod's own sub-cgroups: none).
                container = ContainerId(component);
                break;
            }
            if (PodUid(component) is { } uid)
            {
                // A container named above the pod is the node itself (kind's node container), not this one's.
                pod = uid;
                container = null;
                belowPod = true;
                continue;
            }
            if (container is null && ContainerId(component) is { } id)
                container = id;
        }
        return pod is null && container is null ? CgroupIdentity.Unknown : new CgroupIdentity(container, pod);
    }

    /// <summary>
    /// <c>kubepods-burstable-pod&lt;uid&gt;.slice</c>, <c>kubepods-pod&lt;uid&gt;.slice</c>,
    /// <c>kubelet-kubepods-besteffort-pod&lt;uid&gt;.slice</c> (the systemd driver writes the UID's dashes as
    /// underscores) or <c>pod&lt;uid&gt;</c> (cgroupfs).
    /// </summary>
    private static string? PodUid(ReadOnlySpan<char> component)
    {
        ReadOnlySpan<char> uid;
        if (component.EndsWith(".slice", StringComparison.Ordinal))
        {
            var name = component[..^".slice".Length];
            var pod = name.LastIndexOf("-pod", StringComparison.Ordinal);
            if (pod < 0 || !name[..pod].Contains("kubepods", StringComparison.Ordinal))
                return null;
            uid = name[(pod + "-pod".Length)..];
        }
        else if (component.StartsWith("pod", StringComparison.Ordinal))
        {
            uid = component["pod".Length..];
        }
        else
        {
            return null;
        }
        return NormalisePodUid(uid);
    }

    /// <summary>A UUID (dashes or underscores) as lowercase dashed text, or a static pod's 32 hex digits; else null.</summary>
    private static string? NormalisePodUid(ReadOnlySpan<char> uid)
    {
        if (uid.Length == 32)
            return IsHex(uid) ? uid.ToString().ToLowerInvariant() : null;
        if (uid.Length != 36)
            return null;
        Span<char> text = stackalloc char[36];
        for (var i = 0; i < 36; i++)
        {
            var c = uid[i];
            if (i is 8 or 13 or 18 or 23)
            {
                if (c is not ('-' or '_'))
                    return null;
                text[i] = '-';
            }
            else if (IsHex(c))
            {
                text[i] = char.ToLowerInvariant(c);
            }
            else
            {
                return null;
            }
        }
        return text.ToString();
    }

    private static readonly string[] ScopePrefixes = ["cri-containerd-", "crio-", "docker-", "libpod-"];

    /// <summary>The 64-hex container ID a component names, or null (conmon's scope, anything else).</summary>
    private static string? ContainerId(ReadOnlySpan<char> component)
    {
        var name = component.EndsWith(".scope", StringComparison.Ordinal) ? component[..^".scope".Length] : component;
        var scoped = name.Length != component.Length;
        if (name.Length == ContainerIdLength && !scoped)
            return IsLowerHex(name) ? name.ToString() : null;
        foreach (var prefix in ScopePrefixes)
        {
            if (!name.StartsWith(prefix, StringComparison.Ordinal))
                continue;
            var id = name[prefix.Length..];
            // cgroupfs names CRI-O's containers crio-ID without a scope; the systemd driver always adds one.
            if ((scoped || prefix == "crio-") && id.Length == ContainerIdLength && IsLowerHex(id))
                return id.ToString();
        }
        return null;
    }

    private static bool IsHex(ReadOnlySpan<char> text)
    {
        foreach (var c in text)
        {
            if (!IsHex(c))
                return false;
        }
        return true;
    }

    private static bool IsHex(char c) => c is (>= '0' and <= '9') or (>= 'a' and <= 'f') or (>= 'A' and <= 'F');

    private static bool IsLowerHex(ReadOnlySpan<char> text)
    {
        foreach (var c in text)
        {
            if (c is not ((>= '0' and <= '9') or (>= 'a' and <= 'f')))
                return false;
        }
        return true;
    }
}
