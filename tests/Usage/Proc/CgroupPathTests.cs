using MetaGpu.Usage.Proc;

namespace MetaGpu.Tests.Usage.Proc;

public sealed class CgroupPathTests
{
    private const string Container = "3a7f9e1c5b2d4068ac1e3f5b7d9a2c4e6f8a0b1c3d5e7f9a2b4c6d8e0f1a3b5c";
    private const string Pod = "6b1f0c5e-2a47-4d8e-9c3b-1f2e3d4c5b6a";
    private const string KindNode = "b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8";

    public static TheoryData<string, string?, string?> Samples => new()
    {
        { "runc-v1-cgroupfs.txt", "4f3c2b1a0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c3b", "8d1c7a34-5b2e-4f0a-9c6d-2e7f1b3a4c5d" },
        { "v1-hybrid-systemd-containerd.txt", Container, Pod },
        { "v1-hybrid-cgroupfs-crio.txt", Container, Pod },
        { "v1-cgroupfs-guaranteed.txt", Container, Pod },
        { "v1-docker-plain.txt", Container, null },
        { "v1-kind-seen-from-host.txt", Container, Pod },
        { "v1-host-session.txt", null, null },
        { "v2-systemd-containerd.txt", Container, Pod },
        { "v2-systemd-containerd-seen-from-another-cgroupns.txt", Container, Pod },
        { "v2-systemd-containerd-guaranteed.txt", Container, Pod },
        { "v2-systemd-crio.txt", Container, Pod },
        { "v2-systemd-crio-nested-container.txt", Container, Pod },
        { "v2-systemd-crio-conmon.txt", null, Pod },
        { "v2-systemd-cri-dockerd.txt", Container, Pod },
        { "v2-cgroupfs-containerd.txt", Container, Pod },
        { "v2-docker-plain.txt", Container, null },
        { "v2-kind-seen-from-host.txt", Container, Pod },
        { "v2-kind-seen-in-node.txt", Container, Pod },
        { "v2-pod-level.txt", null, Pod },
        { "v2-static-pod.txt", Container, "2b1f8e9c6f5e4c0b9f3b2d4c1a1e8f7d" },
        { "v2-host-service.txt", null, null },
        { "v2-host-session.txt", null, null },
        { "v2-docker-in-pod.txt", Container, Pod },
        { "v2-forged-nested-pod.txt", Container, Pod },
    };

    [Theory]
    [MemberData(nameof(Samples))]
    public void NamesTheContainerAndPodOfEachLayout(string sample, string? container, string? pod)
    {
        Assert.Equal(new CgroupIdentity(container, pod), CgroupPath.Parse(ProcSamples.Read("cgroup", sample)));
    }

    [Fact]
    public void EverySampleIsInTheTable()
    {
        Assert.Equal(ProcSamples.Names("cgroup").Order(StringComparer.Ordinal), Samples.Select(row => (string)row[0]).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void TheContainerOfAKindNodeIsNotTakenForAPodsContainer()
    {
        // A process right in the pod's cgroup of a kind node: the node's container is above the pod.
        var identity = CgroupPath.Parse($"0::/system.slice/docker-{KindNode}.scope/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-pod{Pod.Replace('-', '_')}.slice\n");

        Assert.Equal(new CgroupIdentity(null, Pod), identity);
        Assert.Equal(new CgroupIdentity(KindNode, null), CgroupPath.Parse($"0::/system.slice/docker-{KindNode}.scope/system.slice/containerd.service\n"));
    }

    [Fact]
    public void LinesAreTriedInOneOrderWhateverTheFileOrder()
    {
        var other = new string('1', 64);
        var lines = new[]
        {
            $"4:cpu,cpuacct:/kubepods/pod{Pod}/{new string('4', 64)}",
            $"0::/kubepods/pod{Pod}/{new string('3', 64)}",
            $"6:pids:/kubepods/pod{Pod}/{new string('2', 64)}",
            $"8:memory:/kubepods/pod{Pod}/{other}",
        };

        Assert.Equal(other, CgroupPath.Parse(string.Join('\n', lines)).ContainerId);
        Assert.Equal(other, CgroupPath.Parse(string.Join('\n', lines.Reverse())).ContainerId);
        Assert.Equal(new string('2', 64), CgroupPath.Parse(string.Join('\n', lines[..3])).ContainerId);
        Assert.Equal(new string('3', 64), CgroupPath.Parse(string.Join('\n', lines[..2])).ContainerId);
        Assert.Equal(new string('4', 64), CgroupPath.Parse(lines[0]).ContainerId);
        var systemd = $"1:name=systemd:/kubepods/pod{Pod}/{new string('5', 64)}";
        Assert.Equal(new string('5', 64), CgroupPath.Parse(string.Join('\n', lines.Append(systemd))).ContainerId);
    }

    [Fact]
    public void APreferredLineThatNamesNothingGivesWayToTheNext()
    {
        var text = $"1:name=systemd:/user.slice\n8:memory:/kubepods/besteffort/pod{Pod}/{Container}\n0::/\n";

        Assert.Equal(new CgroupIdentity(Container, Pod), CgroupPath.Parse(text));
    }

    [Fact]
    public void APathMayHoldColons()
    {
        Assert.Equal(new CgroupIdentity(Container, Pod), CgroupPath.Parse($"0::/odd:name/kubepods/pod{Pod}/{Container}"));
    }

    [Theory]
    [InlineData("pod6B1F0C5E-2A47-4D8E-9C3B-1F2E3D4C5B6A", "6b1f0c5e-2a47-4d8e-9c3b-1f2e3d4c5b6a")]
    [InlineData("kubepods-besteffort-pod6b1f0c5e_2a47_4d8e_9c3b_1f2e3d4c5b6a.slice", "6b1f0c5e-2a47-4d8e-9c3b-1f2e3d4c5b6a")]
    [InlineData("pod2b1f8e9c6f5e4c0b9f3b2d4c1a1e8f7d", "2b1f8e9c6f5e4c0b9f3b2d4c1a1e8f7d")]
    [InlineData("pod6b1f0c5e-2a47-4d8e-9c3b-1f2e3d4c5b6", null)]
    [InlineData("pod6b1f0c5e-2a47-4d8e-9c3b-1f2e3d4c5b6a7", null)]
    [InlineData("pod6b1f0c5e+2a47-4d8e-9c3b-1f2e3d4c5b6a", null)]
    [InlineData("pod6b1f0c5e-2a47-4d8e-9c3b-1f2e3d4c5b6g", null)]
    [InlineData("system-pod6b1f0c5e_2a47_4d8e_9c3b_1f2e3d4c5b6a.slice", null)]
    [InlineData("kubepods-besteffort-pod6b1f0c5e_2a47_4d8e_9c3b_1f2e3d4c5b6a.scope", null)]
    [InlineData("pod", null)]
    public void PodUidsAreNormalisedAndCheckedForShape(string component, string? expected)
    {
        Assert.Equal(expected, CgroupPath.Parse($"0::/kubepods/{component}/{Container}").PodUid);
    }

    [Theory]
    [InlineData("cri-containerd-{0}.scope", true)]
    [InlineData("crio-{0}.scope", true)]
    [InlineData("crio-{0}", true)]
    [InlineData("docker-{0}.scope", true)]
    [InlineData("libpod-{0}.scope", true)]
    [InlineData("{0}", true)]
    [InlineData("crio-conmon-{0}.scope", false)]
    [InlineData("crio-conmon-{0}", false)]
    [InlineData("libpod-conmon-{0}.scope", false)]
    [InlineData("docker-{0}", false)]
    [InlineData("cri-containerd-{0}", false)]
    [InlineData("{0}.scope", false)]
    [InlineData("other-{0}.scope", false)]
    [InlineData("{0}0", false)]
    [InlineData("cri-containerd-{0}0.scope", false)]
    public void ContainerIdsComeFromTheRuntimesNames(string format, bool isContainer)
    {
        var component = string.Format(System.Globalization.CultureInfo.InvariantCulture, format, Container);

        Assert.Equal(isContainer ? Container : null, CgroupPath.Parse($"0::/kubepods.slice/kubepods-pod{Pod.Replace('-', '_')}.slice/{component}").ContainerId);
    }

    [Fact]
    public void UppercaseHexIsNoContainerId()
    {
        Assert.Null(CgroupPath.Parse($"0::/docker/{Container.ToUpperInvariant()}").ContainerId);
    }

    [Theory]
    [InlineData("")]
    [InlineData("\n")]
    [InlineData("0::/")]
    [InlineData("garbage")]
    [InlineData("0:/kubepods/pod6b1f0c5e-2a47-4d8e-9c3b-1f2e3d4c5b6a")]
    [InlineData(":::::")]
    [InlineData("0::")]
    public void UnknownLayoutsGiveNulls(string text)
    {
        Assert.Equal(CgroupIdentity.Unknown, CgroupPath.Parse(text));
    }
}
