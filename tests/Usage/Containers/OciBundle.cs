using MetaGpu.Proto.DevicePlugin.V1Beta1;

namespace MetaGpu.Tests.Usage.Containers;

/// <summary>
/// An OCI bundle directory for one container: <c>rootfs/</c> with the <see cref="WorkloadProgram"/> at
/// <c>/workload</c>, empty <c>/etc/metagpu</c>, <c>/etc/metagpu/resources</c> and <c>/tmp</c> (where the forge mode mounts its tmpfs), and a
/// <c>config.json</c> made from the <see cref="ContainerAllocateResponse"/> the plugin's Allocate returned
/// (see <see cref="OciConfig.Write"/>). Removed by <see cref="Dispose"/> (a <see cref="RuncContainer"/> does that).
/// </summary>
public sealed class OciBundle : IDisposable
{
    private OciBundle(string directory, KubeletCgroup cgroup, IReadOnlyList<string> notes)
    {
        Directory = directory;
        Cgroup = cgroup;
        Notes = notes;
    }

    public string Directory { get; }

    public KubeletCgroup Cgroup { get; }

    public string ConfigPath => Path.Combine(Directory, "config.json");

    /// <summary>What of the allocation was not applied, and why (devices: no GPU here).</summary>
    public IReadOnlyList<string> Notes { get; }

    /// <summary>
    /// A bundle under <paramref name="parent"/> running <paramref name="args"/> (e.g. <see cref="WorkloadProgram.Sleep"/>)
    /// as <paramref name="uid"/>:<paramref name="gid"/>, in <paramref name="cgroup"/> (a fresh pod when null).
    /// </summary>
    public static OciBundle Create(string parent, ContainerAllocateResponse allocation, IReadOnlyList<string> args,
        KubeletCgroup? cgroup = null, uint uid = 0, uint gid = 0)
    {
        cgroup ??= KubeletCgroup.New();
        var directory = Path.Combine(parent, "bundle-" + cgroup.ContainerId[..12]);
        var rootfs = Path.Combine(directory, "rootfs");
        foreach (var dir in new[] { "etc/metagpu/resources", "tmp", "proc", "dev", "sys" })
            System.IO.Directory.CreateDirectory(Path.Combine(rootfs, dir));
        File.Copy(WorkloadProgram.HostPath, Path.Combine(rootfs, WorkloadProgram.ContainerPath.TrimStart('/')));
        var notes = new List<string>();
        var hostname = "pod-" + cgroup.PodUid[..8];
        File.WriteAllBytes(Path.Combine(directory, "config.json"), OciConfig.Write(allocation, args, hostname, cgroup.Path, uid, gid, notes));
        return new OciBundle(directory, cgroup, notes);
    }

    public void Dispose()
    {
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
    }
}
