using System.Security.Cryptography;
using MetaGpu.Proto.DevicePlugin.V1Beta1;

namespace MetaGpu.Tests.Usage.Containers;

/// <summary>
/// What the container tests compare the kernel's view with: a state directory holding allocation files, the
/// <see cref="ContainerAllocateResponse"/> a plugin would return for one, and simple string matching on raw
/// /proc text (the product's parsers live elsewhere; these tests only check what the kernel shows).
/// </summary>
public sealed class HostView : IDisposable
{
    public const string AllocationPath = "/etc/metagpu/allocation.json";

    public string StateDirectory { get; } = Directory.CreateTempSubdirectory("mg-ctr-state-").FullName;

    /// <summary>Writes <c>allocations/&lt;key&gt;.json</c> (a random valid-looking key) and returns the key and its path.</summary>
    public (string Key, string HostPath, string Json) WriteAllocation(string resource)
    {
        var key = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(20));
        var dir = Path.Combine(StateDirectory, "allocations");
        Directory.CreateDirectory(dir);
        var path = Path.Combine(dir, key + ".json");
        var json = $"{{\"resource\":\"{resource}\",\"key\":\"{key}\"}}";
        File.WriteAllText(path, json);
        return (key, path, json);
    }

    /// <summary>What Allocate answers for one container: envs, the two read-only mounts of its file, a GPU device, an annotation.</summary>
    public static ContainerAllocateResponse Response(string key, string hostPath, string resource)
    {
        var r = new ContainerAllocateResponse();
        r.Envs["METAGPU_ALLOCATION_KEY"] = key;
        r.Envs["NVIDIA_VISIBLE_DEVICES"] = "GPU-00000000-0000-0000-0000-000000000001";
        r.Mounts.Add(new Mount { ContainerPath = AllocationPath, HostPath = hostPath, ReadOnly = true });
        r.Mounts.Add(new Mount { ContainerPath = ResourcePath(resource), HostPath = hostPath, ReadOnly = true });
        r.Devices.Add(new DeviceSpec { ContainerPath = "/dev/nvidia0", HostPath = "/dev/nvidia0", Permissions = "rw" });
        r.Annotations["metagpu.io/allocation"] = key;
        return r;
    }

    public static string ResourcePath(string resource) => $"/etc/metagpu/resources/{resource.Replace('/', '_')}.json";

    /// <summary>major:minor of the filesystem holding <paramref name="path"/> (its st_dev), from stat(1).</summary>
    public static string DeviceOf(string path)
    {
        var (code, stdout, stderr) = RuncHost.Invoke("stat", ["-c", "%Hd:%Ld", path]);
        Assert.True(code == 0, $"stat {path}: {stderr}");
        return stdout.Trim();
    }

    /// <summary>
    /// The root a mountinfo entry shows for a bind mount of <paramref name="hostPath"/>: its path relative to the root
    /// of its filesystem, from the test's own mountinfo (the mount holding it with the longest mount point).
    /// </summary>
    public static string RootOf(string hostPath)
    {
        var best = (MountPoint: "", Root: "");
        foreach (var e in Entries(File.ReadAllText("/proc/self/mountinfo")))
        {
            var prefix = e.MountPoint == "/" ? "/" : e.MountPoint + "/";
            if ((hostPath.StartsWith(prefix, StringComparison.Ordinal) || hostPath == e.MountPoint) && e.MountPoint.Length >= best.MountPoint.Length)
                best = (e.MountPoint, e.Root);
        }
        var rest = hostPath[best.MountPoint.Length..].TrimStart('/');
        return best.Root.TrimEnd('/') + "/" + rest;
    }

    /// <summary>The entries of raw mountinfo text (fields split on spaces; the test's paths have none to escape).</summary>
    public static IReadOnlyList<(string Device, string Root, string MountPoint, string FsType)> Entries(string mountinfo)
    {
        var entries = new List<(string, string, string, string)>();
        foreach (var line in mountinfo.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var f = line.Split(' ');
            var dash = Array.IndexOf(f, "-");
            if (f.Length >= 10 && dash > 5 && dash + 1 < f.Length)
                entries.Add((f[2], f[3], f[4], f[dash + 1]));
        }
        return entries;
    }

    /// <summary>The entries mounted at <paramref name="mountPoint"/> in a process's mountinfo.</summary>
    public static IReadOnlyList<(string Device, string Root, string MountPoint, string FsType)> At(string mountinfo, string mountPoint) =>
        Entries(mountinfo).Where(e => e.MountPoint == mountPoint).ToArray();

    public void Dispose()
    {
        try
        {
            Directory.Delete(StateDirectory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
