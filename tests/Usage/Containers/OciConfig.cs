using System.Text.Json;
using MetaGpu.Proto.DevicePlugin.V1Beta1;

namespace MetaGpu.Tests.Usage.Containers;

/// <summary>
/// Writes an OCI runtime config (config.json, spec 1.0.2) for one container, shaped like what containerd makes for a
/// kubelet pod: its default capability set (which includes CAP_SETFCAP, so a root process can map root in a user
/// namespace of its own, as the forged-mount attack needs), no seccomp profile (the kubelet's default is
/// Unconfined), its own pid, mount, ipc and uts namespaces, the host's network. The rest (mounts of /proc, /dev,
/// /sys, masked and read-only paths, rlimits) are runc's own defaults from <c>runc spec</c>.
/// </summary>
public static class OciConfig
{
    /// <summary>containerd's default capabilities for a container (oci.DefaultSpec).</summary>
    public static readonly string[] Capabilities =
    [
        "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID",
        "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
    ];

    private static readonly string[] MaskedPaths =
    [
        "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
        "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi",
    ];

    private static readonly string[] ReadonlyPaths = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"];

    /// <summary>
    /// The config's bytes. <paramref name="allocation"/>'s envs become process env (after PATH and HOSTNAME, in
    /// ordinal order), its mounts bind mounts (read-only ones "rbind","ro"), its annotations the config's; its devices
    /// and CDI devices are not applied (there is no GPU here) and each adds a line to <paramref name="notes"/>.
    /// </summary>
    public static byte[] Write(ContainerAllocateResponse allocation, IReadOnlyList<string> args, string hostname, string cgroupsPath,
        uint uid, uint gid, List<string> notes)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteString("ociVersion", "1.0.2");
            WriteProcess(w, allocation, args, hostname, uid, gid);
            w.WriteStartObject("root");
            w.WriteString("path", "rootfs");
            w.WriteBoolean("readonly", false);
            w.WriteEndObject();
            w.WriteString("hostname", hostname);
            WriteMounts(w, allocation);
            w.WriteStartObject("annotations");
            foreach (var (key, value) in allocation.Annotations.OrderBy(a => a.Key, StringComparer.Ordinal))
                w.WriteString(key, value);
            w.WriteEndObject();
            WriteLinux(w, cgroupsPath);
            w.WriteEndObject();
        }
        foreach (var d in allocation.Devices)
            notes.Add($"device {d.HostPath} -> {d.ContainerPath} ({d.Permissions}) not applied: no GPU in the container harness");
        foreach (var d in allocation.CdiDevices)
            notes.Add($"CDI device {d.Name} not applied: no GPU in the container harness");
        return buffer.WrittenSpan.ToArray();
    }

    private static void WriteProcess(Utf8JsonWriter w, ContainerAllocateResponse allocation, IReadOnlyList<string> args, string hostname, uint uid, uint gid)
    {
        w.WriteStartObject("process");
        w.WriteBoolean("terminal", false);
        w.WriteStartObject("user");
        w.WriteNumber("uid", uid);
        w.WriteNumber("gid", gid);
        w.WriteEndObject();
        WriteStrings(w, "args", args);
        w.WriteStartArray("env");
        w.WriteStringValue("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
        w.WriteStringValue("HOSTNAME=" + hostname);
        foreach (var (key, value) in allocation.Envs.OrderBy(e => e.Key, StringComparer.Ordinal))
            w.WriteStringValue(key + "=" + value);
        w.WriteEndArray();
        w.WriteString("cwd", "/");
        w.WriteStartObject("capabilities");
        foreach (var set in new[] { "bounding", "effective", "permitted" })
            WriteStrings(w, set, Capabilities);
        w.WriteEndObject();
        w.WriteStartArray("rlimits");
        w.WriteStartObject();
        w.WriteString("type", "RLIMIT_NOFILE");
        w.WriteNumber("hard", 1024);
        w.WriteNumber("soft", 1024);
        w.WriteEndObject();
        w.WriteEndArray();
        // A pod's default (allowPrivilegeEscalation unset) leaves no_new_privs off.
        w.WriteBoolean("noNewPrivileges", false);
        w.WriteEndObject();
    }

    private static void WriteMounts(Utf8JsonWriter w, ContainerAllocateResponse allocation)
    {
        w.WriteStartArray("mounts");
        Mount(w, "/proc", "proc", "proc");
        Mount(w, "/dev", "tmpfs", "tmpfs", "nosuid", "strictatime", "mode=755", "size=65536k");
        Mount(w, "/dev/pts", "devpts", "devpts", "nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5");
        Mount(w, "/dev/shm", "tmpfs", "shm", "nosuid", "noexec", "nodev", "mode=1777", "size=65536k");
        Mount(w, "/dev/mqueue", "mqueue", "mqueue", "nosuid", "noexec", "nodev");
        Mount(w, "/sys", "sysfs", "sysfs", "nosuid", "noexec", "nodev", "ro");
        Mount(w, "/sys/fs/cgroup", "cgroup", "cgroup", "nosuid", "noexec", "nodev", "relatime", "ro");
        foreach (var m in allocation.Mounts)
            Mount(w, m.ContainerPath, "bind", m.HostPath, "rbind", m.ReadOnly ? "ro" : "rw");
        w.WriteEndArray();
    }

    private static void Mount(Utf8JsonWriter w, string destination, string type, string source, params string[] options)
    {
        w.WriteStartObject();
        w.WriteString("destination", destination);
        w.WriteString("type", type);
        w.WriteString("source", source);
        if (options.Length > 0)
            WriteStrings(w, "options", options);
        w.WriteEndObject();
    }

    private static void WriteLinux(Utf8JsonWriter w, string cgroupsPath)
    {
        w.WriteStartObject("linux");
        w.WriteStartObject("resources");
        w.WriteStartArray("devices");
        w.WriteStartObject();
        w.WriteBoolean("allow", false);
        w.WriteString("access", "rwm");
        w.WriteEndObject();
        w.WriteEndArray();
        w.WriteEndObject();
        w.WriteString("cgroupsPath", cgroupsPath);
        w.WriteStartArray("namespaces");
        foreach (var ns in new[] { "pid", "ipc", "uts", "mount" })
        {
            w.WriteStartObject();
            w.WriteString("type", ns);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        WriteStrings(w, "maskedPaths", MaskedPaths);
        WriteStrings(w, "readonlyPaths", ReadonlyPaths);
        w.WriteEndObject();
    }

    private static void WriteStrings(Utf8JsonWriter w, string name, IReadOnlyList<string> values)
    {
        w.WriteStartArray(name);
        foreach (var v in values)
            w.WriteStringValue(v);
        w.WriteEndArray();
    }
}
