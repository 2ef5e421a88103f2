using System.Security.Cryptography;

namespace MetaGpu.Tests.Usage.Containers;

/// <summary>
/// Where a container's cgroup lies, in the kubelet's cgroupfs-driver layout for a BestEffort pod:
/// <c>/kubepods/besteffort/pod&lt;pod uid&gt;/&lt;64-hex container id&gt;</c>, so <c>/proc/&lt;pid&gt;/cgroup</c> reads as
/// it does for a real pod's process (containerd and CRI-O name the container by such an ID too).
/// </summary>
public sealed record KubeletCgroup(string PodUid, string ContainerId)
{
    /// <summary>The parents the kubelet would have made, outermost first (the harness removes those it made).</summary>
    public static readonly string[] Parents = ["/kubepods", "/kubepods/besteffort"];

    /// <summary>A fresh container ID in a new pod, or in the pod <paramref name="podUid"/> (several containers of one pod).</summary>
    public static KubeletCgroup New(string? podUid = null) =>
        new(podUid ?? Guid.NewGuid().ToString("D"), Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32)));

    public string PodPath => $"/kubepods/besteffort/pod{PodUid}";

    /// <summary>The OCI config's <c>linux.cgroupsPath</c>.</summary>
    public string Path => $"{PodPath}/{ContainerId}";
}
