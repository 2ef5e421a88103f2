using System.Text.Json;
using MetaGpu.Proto.DevicePlugin.V1Beta1;

namespace MetaGpu.Tests.Usage.Containers;

/// <summary>The config.json made from an Allocate answer, read back as JSON (no runc needed).</summary>
public sealed class OciConfigTests
{
    private static (JsonElement Root, List<string> Notes) Write(ContainerAllocateResponse response, KubeletCgroup cgroup)
    {
        var notes = new List<string>();
        var bytes = OciConfig.Write(response, ["/workload", "sleep"], "pod-x", cgroup.Path, 1000, 2000, notes);
        return (JsonDocument.Parse(bytes).RootElement.Clone(), notes);
    }

    private static ContainerAllocateResponse Response()
    {
        var r = new ContainerAllocateResponse();
        r.Envs["B"] = "two";
        r.Envs["A"] = "quote \" backslash \\ newline \n end";
        r.Mounts.Add(new Mount { ContainerPath = "/etc/metagpu/allocation.json", HostPath = "/var/lib/metagpu/allocations/k.json", ReadOnly = true });
        r.Mounts.Add(new Mount { ContainerPath = "/data", HostPath = "/srv/data", ReadOnly = false });
        r.Devices.Add(new DeviceSpec { ContainerPath = "/dev/nvidia0", HostPath = "/dev/nvidia0", Permissions = "rw" });
        r.CdiDevices.Add(new CDIDevice { Name = "nvidia.com/gpu=GPU-1" });
        r.Annotations["metagpu.io/allocation"] = "k";
        return r;
    }

    [Fact]
    public void Envs_follow_path_and_hostname_in_ordinal_order_and_survive_any_characters()
    {
        var (root, _) = Write(Response(), KubeletCgroup.New());

        var env = root.GetProperty("process").GetProperty("env").EnumerateArray().Select(e => e.GetString()!).ToArray();
        Assert.Equal(["HOSTNAME=pod-x", "A=quote \" backslash \\ newline \n end", "B=two"], env[1..]);
        Assert.StartsWith("PATH=", env[0]);
        Assert.Equal("1.0.2", root.GetProperty("ociVersion").GetString());
        Assert.Equal(["/workload", "sleep"], root.GetProperty("process").GetProperty("args").EnumerateArray().Select(e => e.GetString()!));
        Assert.Equal(1000, root.GetProperty("process").GetProperty("user").GetProperty("uid").GetInt32());
        Assert.Equal(2000, root.GetProperty("process").GetProperty("user").GetProperty("gid").GetInt32());
    }

    [Fact]
    public void Mounts_become_bind_mounts_read_only_where_asked()
    {
        var (root, _) = Write(Response(), KubeletCgroup.New());

        var mounts = root.GetProperty("mounts").EnumerateArray().ToDictionary(m => m.GetProperty("destination").GetString()!);
        var allocation = mounts["/etc/metagpu/allocation.json"];
        Assert.Equal("bind", allocation.GetProperty("type").GetString());
        Assert.Equal("/var/lib/metagpu/allocations/k.json", allocation.GetProperty("source").GetString());
        Assert.Equal(["rbind", "ro"], allocation.GetProperty("options").EnumerateArray().Select(o => o.GetString()!));
        Assert.Equal(["rbind", "rw"], mounts["/data"].GetProperty("options").EnumerateArray().Select(o => o.GetString()!));
        Assert.Contains("/proc", mounts.Keys);
    }

    [Fact]
    public void Devices_are_not_applied_and_each_leaves_a_note()
    {
        var (root, notes) = Write(Response(), KubeletCgroup.New());

        Assert.Equal(2, notes.Count);
        Assert.Contains(notes, n => n.Contains("/dev/nvidia0", StringComparison.Ordinal));
        Assert.Contains(notes, n => n.Contains("nvidia.com/gpu=GPU-1", StringComparison.Ordinal));
        Assert.False(root.GetProperty("linux").TryGetProperty("devices", out _));
        Assert.Equal("k", root.GetProperty("annotations").GetProperty("metagpu.io/allocation").GetString());
    }

    [Fact]
    public void Cgroup_path_is_the_kubelets_and_the_network_is_the_hosts()
    {
        var cgroup = KubeletCgroup.New();
        var (root, _) = Write(Response(), cgroup);

        var linux = root.GetProperty("linux");
        Assert.Equal($"/kubepods/besteffort/pod{cgroup.PodUid}/{cgroup.ContainerId}", linux.GetProperty("cgroupsPath").GetString());
        Assert.Matches("^/kubepods/besteffort/pod[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/[0-9a-f]{64}$", cgroup.Path);
        Assert.Equal(["ipc", "mount", "pid", "uts"], linux.GetProperty("namespaces").EnumerateArray().Select(n => n.GetProperty("type").GetString()!).Order());
        Assert.Equal(cgroup.PodUid, KubeletCgroup.New(cgroup.PodUid).PodUid);
        Assert.NotEqual(cgroup.ContainerId, KubeletCgroup.New(cgroup.PodUid).ContainerId);
    }
}
