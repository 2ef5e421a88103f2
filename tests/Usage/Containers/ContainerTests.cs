namespace MetaGpu.Tests.Usage.Containers;

/// <summary>
/// Real OCI containers (runc) started from what Allocate answers: what the container sees, and what the host's
/// /proc shows of it, which is what the daemon attributes processes by.
/// </summary>
public sealed class ContainerTests(RuncHost host) : IClassFixture<RuncHost>, IDisposable
{
    private const string Resource = "metagpu.io/gpu";
    private readonly HostView _view = new();

    [Fact]
    public void Container_sees_its_envs_and_its_allocation_file_and_cannot_write_it()
    {
        var (key, path, json) = _view.WriteAllocation(Resource);
        var response = HostView.Response(key, path, Resource);
        using var c = host.Start(response, WorkloadProgram.Sleep());

        var output = c.WaitForOutput("ready");

        Assert.Contains($"env: METAGPU_ALLOCATION_KEY={key}\n", output);
        Assert.Contains($"env: NVIDIA_VISIBLE_DEVICES={response.Envs["NVIDIA_VISIBLE_DEVICES"]}\n", output);
        Assert.Contains($"allocation-begin\n{json}\nallocation-end\n", output);
        Assert.Contains("allocation-write: refused (Read-only file system)", output);
        Assert.Equal(json, File.ReadAllText(path));
        Assert.Contains(c.Bundle.Notes, n => n.Contains("/dev/nvidia0", StringComparison.Ordinal));
    }

    [Fact]
    public void Host_mountinfo_shows_both_mounts_on_the_state_directorys_filesystem_with_the_files_root()
    {
        var (key, path, _) = _view.WriteAllocation(Resource);
        using var c = host.Start(HostView.Response(key, path, Resource), WorkloadProgram.Sleep());
        c.WaitForOutput("ready");

        var mountinfo = c.ReadProc("mountinfo");
        var device = HostView.DeviceOf(path);
        var root = HostView.RootOf(path);
        Assert.EndsWith($"/allocations/{key}.json", root);
        foreach (var point in new[] { HostView.AllocationPath, HostView.ResourcePath(Resource) })
        {
            var entry = Assert.Single(HostView.At(mountinfo, point));
            Assert.Equal(device, entry.Device);
            Assert.Equal(root, entry.Root);
        }
    }

    [Fact]
    public void Container_process_is_pid_1_of_its_own_pid_and_mount_namespaces()
    {
        var (key, path, _) = _view.WriteAllocation(Resource);
        using var c = host.Start(HostView.Response(key, path, Resource), WorkloadProgram.Sleep());
        var output = c.WaitForOutput("ready");

        Assert.Contains("pid: 1\n", output);
        Assert.Contains($"NSpid:\t{c.HostPid}\t1\n", c.ReadProc("status"));
        foreach (var ns in new[] { "pid", "mnt", "ipc", "uts" })
            Assert.NotEqual(new FileInfo($"/proc/self/ns/{ns}").LinkTarget, new FileInfo($"/proc/{c.HostPid}/ns/{ns}").LinkTarget);
        Assert.Equal(new FileInfo("/proc/self/ns/net").LinkTarget, new FileInfo($"/proc/{c.HostPid}/ns/net").LinkTarget);
    }

    [Fact]
    public void Host_cgroup_file_names_the_pod_uid_and_container_id_in_the_kubelets_layout()
    {
        var (key, path, _) = _view.WriteAllocation(Resource);
        var cgroup = KubeletCgroup.New();
        using var c = host.Start(HostView.Response(key, path, Resource), WorkloadProgram.Sleep(), cgroup);
        c.WaitForOutput("ready");

        var lines = c.ReadProc("cgroup").Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.NotEmpty(lines);
        Assert.Matches("^[0-9a-f]{64}$", cgroup.ContainerId);
        Assert.All(lines, line => Assert.EndsWith($":/kubepods/besteffort/pod{cgroup.PodUid}/{cgroup.ContainerId}", line));
    }

    [Fact]
    public void Every_process_of_a_container_carries_the_mount_and_the_cgroup()
    {
        var (key, path, _) = _view.WriteAllocation(Resource);
        using var c = host.Start(HostView.Response(key, path, Resource), WorkloadProgram.Fork(3));
        var output = c.WaitForOutput("ready");

        Assert.Equal(3, output.Split('\n').Count(l => l.StartsWith("child: ", StringComparison.Ordinal)));
        var pids = c.HostPids();
        Assert.Equal(4, pids.Count);
        Assert.Contains(c.HostPid, pids);
        var device = HostView.DeviceOf(path);
        foreach (var pid in pids)
        {
            var entry = Assert.Single(HostView.At(File.ReadAllText($"/proc/{pid}/mountinfo"), HostView.AllocationPath));
            Assert.Equal((device, HostView.RootOf(path)), (entry.Device, entry.Root));
            Assert.Contains(c.Cgroup.Path, File.ReadAllText($"/proc/{pid}/cgroup"));
        }
    }

    [Fact]
    public void A_child_killed_from_the_host_is_reaped_and_the_container_lives_on()
    {
        var (key, path, _) = _view.WriteAllocation(Resource);
        using var c = host.Start(HostView.Response(key, path, Resource), WorkloadProgram.Fork(2));
        c.WaitForOutput("ready");
        var child = c.HostPids().First(p => p != c.HostPid);
        var nsPid = File.ReadAllText($"/proc/{child}/status").Split('\n').Single(l => l.StartsWith("NSpid:", StringComparison.Ordinal)).Split('\t')[^1];

        Assert.Equal(0, RuncHost.Invoke("kill", ["-KILL", child.ToString(System.Globalization.CultureInfo.InvariantCulture)]).Code);

        c.WaitForOutput($"exited: {nsPid} signal 9\n");
        Assert.DoesNotContain(child, c.HostPids());
        Assert.False(RuncContainer.IsAlive(child));
        Assert.True(c.IsRunning);
        Assert.Equal(2, c.HostPids().Count);
    }

    /// <summary>
    /// Issue item 2's attack: container B makes a user and mount namespace of its own (no host privilege; as root it
    /// needs CAP_SETFCAP, which containerd gives every container, and as any other user nothing) and mounts a
    /// look-alike of A's file from a tmpfs, with A's exact root path. Only the device tells them apart.
    /// </summary>
    [Theory]
    [InlineData(0u)]
    [InlineData(1000u)]
    public void Forged_mount_has_the_real_files_root_but_a_tmpfs_device(uint uid)
    {
        var a = _view.WriteAllocation(Resource);
        var b = _view.WriteAllocation(Resource);
        var rootA = HostView.RootOf(a.HostPath);
        const string forged = "{\"forged\":true}";
        using var c = host.Start(HostView.Response(b.Key, b.HostPath, Resource), WorkloadProgram.Forge(rootA, forged), uid: uid, gid: uid);

        var output = c.WaitForOutput("ready");

        Assert.Contains($"uid: {uid}\n", output);
        Assert.Contains($"forged: {HostView.AllocationPath}\n", output);
        Assert.Contains($"forged-allocation-begin\n{forged}\nforged-allocation-end\n", output);
        var device = HostView.DeviceOf(a.HostPath);
        Assert.Equal(device, HostView.DeviceOf(b.HostPath));
        var entries = HostView.At(c.ReadProc("mountinfo"), HostView.AllocationPath);
        Assert.Equal(2, entries.Count);
        Assert.Contains(entries, e => e.Device == device && e.Root == HostView.RootOf(b.HostPath));
        var look = Assert.Single(entries, e => e.Root == rootA);
        Assert.NotEqual(device, look.Device);
        Assert.Equal("tmpfs", look.FsType);
        Assert.Equal(a.Json, File.ReadAllText(a.HostPath));
    }

    [Fact]
    public void Dispose_removes_the_container_its_bundle_and_its_cgroups()
    {
        var (key, path, _) = _view.WriteAllocation(Resource);
        var c = host.Start(HostView.Response(key, path, Resource), WorkloadProgram.Sleep());
        c.WaitForOutput("ready");
        Assert.Contains(c.Id, host.List());
        Assert.NotEmpty(PodDirectories(c.Cgroup));

        c.Dispose();

        AssertGone(c);
    }

    [Fact]
    public void Dispose_cleans_up_after_a_process_that_already_died()
    {
        var (key, path, _) = _view.WriteAllocation(Resource);
        var c = host.Start(HostView.Response(key, path, Resource), WorkloadProgram.Sleep());
        c.WaitForOutput("ready");
        c.Kill("TERM");
        Assert.True(c.WaitForExit(TimeSpan.FromSeconds(30)), "SIGTERM should end the workload");

        c.Dispose();
        c.Dispose();

        AssertGone(c);
    }

    [Fact]
    public void A_failed_start_says_why_and_leaves_nothing()
    {
        var missing = Path.Combine(_view.StateDirectory, "allocations", "missing.json");
        var response = HostView.Response("k", missing, Resource);
        var cgroup = KubeletCgroup.New();

        var e = Assert.Throws<InvalidOperationException>(() => host.Start(response, WorkloadProgram.Sleep(), cgroup));

        Assert.Contains(missing, e.Message);
        Assert.DoesNotContain(cgroup.ContainerId, host.List());
        Assert.Empty(PodDirectories(cgroup));
        Assert.Empty(Directory.EnumerateDirectories(host.Directory, "bundle-" + cgroup.ContainerId[..12]));
    }

    [Fact]
    public void Waiting_for_output_fails_at_once_when_the_process_ends()
    {
        var (key, path, _) = _view.WriteAllocation(Resource);
        using var c = host.Start(HostView.Response(key, path, Resource), [WorkloadProgram.ContainerPath, "no-such-mode"]);
        var clock = System.Diagnostics.Stopwatch.StartNew();

        var e = Assert.Throws<InvalidOperationException>(() => c.WaitForOutput("ready", TimeSpan.FromMinutes(2)));

        Assert.Contains("unknown mode: no-such-mode", e.Message);
        Assert.True(clock.Elapsed < TimeSpan.FromMinutes(1), $"took {clock.Elapsed}");
    }

    [Fact]
    public void Disposing_the_fixture_deletes_the_containers_it_still_has()
    {
        var (key, path, _) = _view.WriteAllocation(Resource);
        var own = new RuncHost();
        var c = own.Start(HostView.Response(key, path, Resource), WorkloadProgram.Fork(2));
        c.WaitForOutput("ready");
        var pids = c.HostPids();

        own.Dispose();

        Assert.False(Directory.Exists(own.Directory));
        Assert.All(pids, pid => Assert.False(RuncContainer.IsAlive(pid), $"pid {pid} still runs"));
        Assert.Empty(PodDirectories(c.Cgroup));
    }

    [Fact]
    public void A_new_fixture_sweeps_the_containers_a_killed_test_process_left_behind()
    {
        var (key, path, _) = _view.WriteAllocation(Resource);
        // The folder of a fixture whose test process is gone (no process has pid int.MaxValue).
        var stale = Path.Combine(Path.GetTempPath(), $"mg-runc-{int.MaxValue}-{Guid.NewGuid():N}");
        var state = Path.Combine(stale, "state");
        Directory.CreateDirectory(state);
        var bundle = OciBundle.Create(stale, HostView.Response(key, path, Resource), WorkloadProgram.Sleep());
        File.WriteAllText(Path.Combine(stale, RuncHost.PodsFile), bundle.Cgroup.PodPath + "\n");
        KubepodsCgroups.Enter(bundle.Cgroup);
        try
        {
            var pidFile = Path.Combine(stale, "pid");
            var run = RuncHost.Invoke("/bin/sh", ["-c", "exec \"$0\" \"$@\" >/dev/null 2>&1 </dev/null",
                host.Runc, "--root", state, "run", "-d", "--pid-file", pidFile, "--bundle", bundle.Directory, bundle.Cgroup.ContainerId]);
            Assert.Equal(0, run.Code);
            var pid = int.Parse(File.ReadAllText(pidFile).Trim(), System.Globalization.CultureInfo.InvariantCulture);
            Assert.True(RuncContainer.IsAlive(pid));

            new RuncHost().Dispose();

            Assert.False(Directory.Exists(stale));
            var deadline = DateTime.UtcNow.AddSeconds(30);
            while (RuncContainer.IsAlive(pid) && DateTime.UtcNow < deadline)
                Thread.Sleep(20);
            Assert.False(RuncContainer.IsAlive(pid), "the stale container's process still runs");
            Assert.Empty(PodDirectories(bundle.Cgroup));
        }
        finally
        {
            if (Directory.Exists(state))
                RuncHost.Invoke(host.Runc, ["--root", state, "delete", "-f", bundle.Cgroup.ContainerId]);
            KubepodsCgroups.Leave(bundle.Cgroup);
            if (Directory.Exists(stale))
                Directory.Delete(stale, recursive: true);
        }
    }

    private void AssertGone(RuncContainer c)
    {
        Assert.DoesNotContain(c.Id, host.List());
        Assert.False(c.IsRunning);
        Assert.False(Directory.Exists(c.Bundle.Directory));
        Assert.Empty(PodDirectories(c.Cgroup));
    }

    private static string[] PodDirectories(KubeletCgroup cgroup) =>
        KubepodsCgroups.Hierarchies().Select(h => h + cgroup.PodPath).Where(Directory.Exists).ToArray();

    public void Dispose() => _view.Dispose();
}
