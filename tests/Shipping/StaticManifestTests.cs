using k8s;
using k8s.Models;

namespace MetaGpu.Tests.Shipping;

/// <summary>static.yaml, loaded into the Kubernetes client's typed objects, against what MetaGPU needs and allows.</summary>
public sealed class StaticManifestTests
{
    private const string DevicePluginDirectory = "/var/lib/kubelet/device-plugins";
    private const string PodResourcesDirectory = "/var/lib/kubelet/pod-resources";
    private const string StateDirectory = "/var/lib/metagpu";
    private readonly Manifest _m = ShippingFiles.LoadManifest();

    [Fact]
    public void HoldsANamespaceAConfigMapAndADaemonSetAndNothingElse()
    {
        Assert.Equal(3, _m.Objects.Count);
        Assert.Equal(["Namespace", "ConfigMap", "DaemonSet"], _m.Objects.Select(o => ((IKubernetesObject)o).Kind));
        Assert.Equal("metagpu-system", _m.Namespace.Metadata.Name);
    }

    [Fact]
    public void EveryNamespacedObjectIsInTheNamespaceTheFileDefines()
    {
        var ns = _m.Namespace.Metadata.Name;
        Assert.All(_m.Objects.OfType<IMetadata<V1ObjectMeta>>().Where(o => o is not V1Namespace),
            o => Assert.Equal(ns, o.Metadata.NamespaceProperty));
    }

    [Fact]
    public void TheNamespaceAdmitsAHostPathPod()
    {
        // Pod Security "baseline" forbids hostPath volumes; the one volume MetaGPU needs is one.
        Assert.Equal("privileged", _m.Namespace.Metadata.Labels["pod-security.kubernetes.io/enforce"]);
    }

    [Fact]
    public void TheDaemonSetSelectsItsOwnPodsAndRollsOneNodeAtATime()
    {
        var ds = _m.DaemonSet;
        Assert.All(ds.Spec.Selector.MatchLabels, l => Assert.Equal(l.Value, ds.Spec.Template.Metadata.Labels[l.Key]));
        Assert.Equal("RollingUpdate", ds.Spec.UpdateStrategy.Type);
        Assert.Equal("1", ds.Spec.UpdateStrategy.RollingUpdate?.MaxUnavailable?.Value);
    }

    [Fact]
    public void RunsOnlyOnGpuNodesAndToleratesTheirTaints()
    {
        Assert.Equal("true", _m.Pod.NodeSelector["nvidia.com/gpu.present"]);
        Assert.Contains(_m.Pod.Tolerations, t => t is { Key: "nvidia.com/gpu", OperatorProperty: "Exists", Effect: "NoSchedule" });
        Assert.Contains(_m.Pod.Tolerations, t => t is { Key: "CriticalAddonsOnly", OperatorProperty: "Exists", Effect: null });
        Assert.Equal("system-node-critical", _m.Pod.PriorityClassName);
    }

    [Fact]
    public void GetsNoServiceAccountTokenAndOfTheHostsNamespacesOnlyItsPids()
    {
        var pod = _m.Pod;
        Assert.False(pod.AutomountServiceAccountToken);
        Assert.NotEqual(true, pod.HostNetwork);
        // To read the GPU processes' /proc/<pid>/mountinfo and cgroup: how a process is matched to its pod.
        Assert.True(pod.HostPID);
        Assert.NotEqual(true, pod.HostIPC);
        Assert.Null(pod.InitContainers);
    }

    [Fact]
    public void OpensOnlyTheMetricsPortAndTellsPrometheusWhereItIs()
    {
        var port = Assert.Single(_m.Container.Ports);
        Assert.Equal(("metrics", 9400, "TCP"), (port.Name, port.ContainerPort, port.Protocol));
        Assert.Equal(":9400", _m.Arg("--metrics-address"));
        var annotations = _m.DaemonSet.Spec.Template.Metadata.Annotations;
        Assert.Equal("true", annotations["prometheus.io/scrape"]);
        Assert.Equal("9400", annotations["prometheus.io/port"]);
        Assert.Equal("/metrics", annotations["prometheus.io/path"]);
    }

    [Fact]
    public void TheContainerIsLockedDown()
    {
        var sc = _m.Container.SecurityContext;
        Assert.NotNull(sc);
        Assert.False(sc.Privileged);
        Assert.False(sc.AllowPrivilegeEscalation);
        Assert.Equal(["ALL"], sc.Capabilities.Drop);
        // Only to signal other users' processes in memory-enforcement kill mode.
        Assert.Equal(["KILL"], sc.Capabilities.Add);
        Assert.True(sc.ReadOnlyRootFilesystem);
        var seccomp = sc.SeccompProfile ?? _m.Pod.SecurityContext?.SeccompProfile;
        Assert.Equal("RuntimeDefault", seccomp?.Type);
        // The documented decision: UID 0 (to own sockets in the root-owned host directory), every capability dropped.
        Assert.Equal(0, sc.RunAsUser);
        Assert.False(sc.RunAsNonRoot);
    }

    [Fact]
    public void AsksForLittleAndHasAMemoryLimit()
    {
        var r = _m.Container.Resources;
        Assert.Equal(0.010m, r.Requests["cpu"].ToDecimal());
        Assert.Equal(16m * 1024 * 1024, r.Requests["memory"].ToDecimal());
        Assert.Equal(64m * 1024 * 1024, r.Limits["memory"].ToDecimal());
        Assert.True(r.Requests["memory"].ToDecimal() <= r.Limits["memory"].ToDecimal());
    }

    [Fact]
    public void MountsTheKubeletsTwoDirectoriesAndItsOwnFromTheHostAtTheSamePathsAndUsesThemEverywhere()
    {
        Assert.Equal([DevicePluginDirectory, PodResourcesDirectory, StateDirectory], _m.HostPathVolumes.Select(v => v.HostPath.Path).Order());
        Assert.All(_m.Pod.Volumes.Where(v => v.HostPath is null), v => Assert.NotNull(v.ConfigMap));
        foreach (var v in _m.HostPathVolumes)
            Assert.Equal(v.HostPath.Path, _m.MountOf(v.Name).MountPath); // the same path inside and out

        var plugins = _m.HostPathVolume(DevicePluginDirectory);
        Assert.Equal("Directory", plugins.HostPath.Type);
        Assert.NotEqual(true, _m.MountOf(plugins.Name).ReadOnlyProperty);
        Assert.Equal(DevicePluginDirectory, _m.Arg("--kubelet-dir"));
        Assert.Equal(DevicePluginDirectory, Manifest.ValueOf(_m.Container.LivenessProbe.Exec.Command, "--kubelet-dir"));

        // Allocation files: written here, mounted by the kubelet from the host's copy, so the paths must match.
        var state = _m.HostPathVolume(StateDirectory);
        Assert.Equal("DirectoryOrCreate", state.HostPath.Type);
        Assert.NotEqual(true, _m.MountOf(state.Name).ReadOnlyProperty);
        Assert.Equal(StateDirectory, _m.Arg("--state-dir"));

        var pods = _m.HostPathVolume(PodResourcesDirectory);
        Assert.Equal("Directory", pods.HostPath.Type);
        Assert.True(_m.MountOf(pods.Name).ReadOnlyProperty);
        Assert.Equal(PodResourcesDirectory + "/kubelet.sock", _m.Arg("--pod-resources-socket"));
    }

    [Fact]
    public void StartsTheDaemonWithTheMountedConfigAndJsonLogs()
    {
        var c = _m.Container;
        Assert.Null(c.Command); // the image's ENTRYPOINT, /usr/local/bin/metagpu
        Assert.Equal("start", c.Args[0]);
        Assert.Equal("json", _m.Arg("--log-format"));

        var configVolume = Assert.Single(_m.Pod.Volumes, v => v.ConfigMap is not null);
        Assert.Equal(_m.ConfigMap.Metadata.Name, configVolume.ConfigMap.Name);
        Assert.Null(configVolume.ConfigMap.Items);
        var mount = _m.MountOf(configVolume.Name);
        Assert.True(mount.ReadOnlyProperty);
        Assert.Equal($"{mount.MountPath}/config.yaml", _m.Arg("--config"));
        Assert.Contains("config.yaml", _m.ConfigMap.Data.Keys);
    }

    [Fact]
    public void TheLivenessProbeRunsMetagpuProbeOnTheKubeletDirectory()
    {
        var probe = _m.Container.LivenessProbe;
        Assert.NotNull(probe?.Exec);
        var command = probe.Exec.Command;
        Assert.Equal(ShippingFiles.LoadDockerfile()[^1].ExecForm("ENTRYPOINT")[0], command[0]);
        Assert.Equal(["probe", "--kubelet-dir", _m.Arg("--kubelet-dir")], command.Skip(1));
        // `probe` waits 2 s per socket by default; a kubelet restart removes the sockets for a few seconds.
        Assert.True(probe.TimeoutSeconds >= 5, "timeoutSeconds leaves room for the probe's own 2 s per socket");
        Assert.True(probe.PeriodSeconds * probe.FailureThreshold >= 60, "a kubelet restart must not get the plugin killed");
    }

    [Fact]
    public void TheImageIsPinnedToTheProductVersion()
    {
        var image = _m.Container.Image;
        Assert.DoesNotContain("@", image, StringComparison.Ordinal);
        var colon = image.LastIndexOf(':');
        Assert.True(colon > image.LastIndexOf('/'), $"image '{image}' has no tag");
        var (repository, tag) = (image[..colon], image[(colon + 1)..]);
        Assert.EndsWith("metagpu", repository, StringComparison.Ordinal);
        Assert.NotEqual("latest", tag);
        Assert.Equal(ShippingFiles.ProductVersion, tag);
        Assert.Equal(ShippingFiles.ProductVersion, _m.DaemonSet.Metadata.Labels["app.kubernetes.io/version"]);
        Assert.Equal("IfNotPresent", _m.Container.ImagePullPolicy);
    }

    [Fact]
    public void TakesNothingFromSecrets()
    {
        Assert.All(_m.Pod.Volumes, v => Assert.Null(v.Secret));
        Assert.All(_m.Pod.Volumes, v => Assert.Null(v.Projected));
        Assert.All(_m.Container.Env ?? [], e => Assert.Null(e.ValueFrom?.SecretKeyRef));
        Assert.All(_m.Container.EnvFrom ?? [], e => Assert.Null(e.SecretRef));
        Assert.Null(_m.Pod.ImagePullSecrets);
    }
}
