using CsCheck;
using Google.Protobuf;
using MetaGpu.Proto.PodResources.V1;
using MetaGpu.Usage.PodResources;
using KubeletApi = MetaGpu.Tests.Kubelet.PodResources.V1;

namespace MetaGpu.Tests.Usage.PodResources;

/// <summary>From the kubelet's List answer to (namespace, pod, container, resource, device IDs).</summary>
public sealed class PodResourcesMappingTests
{
    private const string Share = "metagpu.io/gpu-share";

    [Fact]
    public void MapsEveryContainerWithDevicesAndDropsTheOthers()
    {
        var answer = StandInPodResources.ToResponse([
            new PodEntry("team-a", "trainer-0",
                new ContainerEntry("main", new DeviceEntry(Share, "g0-m3", "g0-m1")),
                new ContainerEntry("sidecar"),
                new ContainerEntry("logger", new DeviceEntry(Share, "g1-m0"), new DeviceEntry("nvidia.com/gpu", "GPU-77"))),
            new PodEntry("kube-system", "coredns-1", new ContainerEntry("coredns")),
            new PodEntry("team-b", "infer", new ContainerEntry("main", new DeviceEntry("example.com/fpga", "f1"))),
        ]);

        // As the daemon receives it: the stand-in kubelet's answer, written and parsed with our (smaller) .proto.
        var containers = PodResourcesMapping.Map(PodResourcesMethods.ResponseParser.ParseFrom(answer.ToByteArray()));

        Assert.Equal(3, containers.Count);
        var main = containers[0];
        Assert.Equal(("team-a", "trainer-0", "main"), (main.Namespace, main.Pod, main.Container));
        var d = Assert.Single(main.Devices);
        Assert.Equal(Share, d.Resource);
        Assert.Equal(["g0-m1", "g0-m3"], d.DeviceIds); // one entry per device on the wire, merged and sorted here

        var logger = containers[1];
        Assert.Equal(("team-a", "trainer-0", "logger"), (logger.Namespace, logger.Pod, logger.Container));
        Assert.Equal(["metagpu.io/gpu-share", "nvidia.com/gpu"], logger.Devices.Select(x => x.Resource));
        Assert.Equal(["g1-m0"], logger.Devices[0].DeviceIds);
        Assert.Equal(["GPU-77"], logger.Devices[1].DeviceIds);

        var infer = containers[2];
        Assert.Equal(("team-b", "infer", "main", "example.com/fpga"), (infer.Namespace, infer.Pod, infer.Container, infer.Devices[0].Resource));
    }

    [Fact]
    public void DeviceOnTwoNumaNodesCountsOnceAndEmptyEntriesAreDropped()
    {
        var container = new KubeletApi.ContainerResources { Name = "c" };
        // The kubelet repeats a device once per NUMA node it is attached to.
        container.Devices.Add(new KubeletApi.ContainerDevices { ResourceName = Share, DeviceIds = { "g0-m2" }, Topology = new KubeletApi.TopologyInfo { Nodes = { new KubeletApi.NUMANode { ID = 0 } } } });
        container.Devices.Add(new KubeletApi.ContainerDevices { ResourceName = Share, DeviceIds = { "g0-m2" }, Topology = new KubeletApi.TopologyInfo { Nodes = { new KubeletApi.NUMANode { ID = 1 } } } });
        container.Devices.Add(new KubeletApi.ContainerDevices { ResourceName = "", DeviceIds = { "orphan" } });
        container.Devices.Add(new KubeletApi.ContainerDevices { ResourceName = "example.com/none" });
        container.Devices.Add(new KubeletApi.ContainerDevices { ResourceName = "example.com/blank", DeviceIds = { "" } });
        var onlyEmpty = new KubeletApi.ContainerResources { Name = "empty" };
        onlyEmpty.Devices.Add(new KubeletApi.ContainerDevices { ResourceName = "example.com/none" });
        var sent = new KubeletApi.ListPodResourcesResponse { PodResources = { new KubeletApi.PodResources { Namespace = "n", Name = "p", Containers = { container, onlyEmpty } } } };
        var answer = PodResourcesMethods.ResponseParser.ParseFrom(sent.ToByteArray());

        var mapped = Assert.Single(PodResourcesMapping.Map(answer));

        Assert.Equal("c", mapped.Container);
        var d = Assert.Single(mapped.Devices);
        Assert.Equal(Share, d.Resource);
        Assert.Equal(["g0-m2"], d.DeviceIds);
    }

    [Fact]
    public void NewerKubeletFieldsAreSkipped()
    {
        var bytes = NewerKubeletAnswer();

        var answer = PodResourcesMethods.ResponseParser.ParseFrom(bytes);
        var mapped = Assert.Single(PodResourcesMapping.Map(answer));

        Assert.Equal(("ns1", "pod1", "ctr1"), (mapped.Namespace, mapped.Pod, mapped.Container));
        Assert.Equal(["g0-m0", "g0-m1"], Assert.Single(mapped.Devices).DeviceIds);
        // What our .proto leaves out is dropped, not kept as unknown fields: written again, the answer holds only
        // the names and device IDs.
        var known = new ListPodResourcesResponse();
        var pod = new Proto.PodResources.V1.PodResources { Namespace = "ns1", Name = "pod1" };
        var ctr = new ContainerResources { Name = "ctr1" };
        ctr.Devices.Add(new ContainerDevices { ResourceName = Share, DeviceIds = { "g0-m1" } });
        ctr.Devices.Add(new ContainerDevices { ResourceName = Share, DeviceIds = { "g0-m0" } });
        pod.Containers.Add(ctr);
        known.PodResources.Add(pod);
        Assert.Equal(known.ToByteArray(), answer.ToByteArray());
        Assert.True(ListPodResourcesResponse.Parser.ParseFrom(bytes).CalculateSize() > known.CalculateSize()); // the plain parser keeps them
    }

    [Fact]
    public void MapNeverThrowsOnAnyMessageTheParserAccepts()
    {
        Gen.Byte.Array[0, 400].Sample(bytes =>
        {
            ListPodResourcesResponse answer;
            try
            {
                answer = PodResourcesMethods.ResponseParser.ParseFrom(bytes);
            }
            catch (InvalidProtocolBufferException)
            {
                return; // the transport turns this into INTERNAL; see the client tests
            }
            foreach (var c in PodResourcesMapping.Map(answer))
                Assert.NotEmpty(c.Devices);
        }, iter: 20_000);
    }

    /// <summary>
    /// An answer as a newer kubelet writes it, built field by field: PodResources with fields 4 (cpu_ids) and
    /// 5 (memory) that our .proto lacks, a ContainerResources with cpu_ids, memory, dynamic_resources and an
    /// unknown field 9, and an unknown top-level field 7.
    /// </summary>
    internal static byte[] NewerKubeletAnswer()
    {
        static byte[] Message(Action<CodedOutputStream> write)
        {
            using var ms = new MemoryStream();
            var o = new CodedOutputStream(ms);
            write(o);
            o.Flush();
            return ms.ToArray();
        }
        static void Bytes(CodedOutputStream o, int field, byte[] value)
        {
            o.WriteTag(field, WireFormat.WireType.LengthDelimited);
            o.WriteBytes(ByteString.CopyFrom(value));
        }
        static void Text(CodedOutputStream o, int field, string value)
        {
            o.WriteTag(field, WireFormat.WireType.LengthDelimited);
            o.WriteString(value);
        }
        static byte[] Device(string id) => Message(o =>
        {
            Text(o, 1, Share);
            Text(o, 2, id);
            Bytes(o, 3, Message(t => Bytes(t, 1, Message(n => { n.WriteTag(1, WireFormat.WireType.Varint); n.WriteInt64(0); }))));
        });
        var memory = Message(o =>
        {
            Text(o, 1, "memory");
            o.WriteTag(2, WireFormat.WireType.Varint);
            o.WriteUInt64(1UL << 33);
        });
        var packedCpus = Message(o => { o.WriteInt64(2); o.WriteInt64(3); });
        var dynamic = Message(o =>
        {
            Text(o, 1, "gpu.example.com");
            Text(o, 2, "claim-1");
            Text(o, 3, "ns1");
            Bytes(o, 4, Message(c => Bytes(c, 1, Message(d => Text(d, 1, "example.com/gpu=gpu0")))));
        });
        var container = Message(o =>
        {
            Text(o, 1, "ctr1");
            Bytes(o, 2, Device("g0-m1"));
            Bytes(o, 2, Device("g0-m0"));
            Bytes(o, 3, packedCpus);
            Bytes(o, 4, memory);
            Bytes(o, 5, dynamic);
            o.WriteTag(9, WireFormat.WireType.Fixed64);
            o.WriteFixed64(42);
        });
        var pod = Message(o =>
        {
            Text(o, 1, "pod1");
            Text(o, 2, "ns1");
            Bytes(o, 3, container);
            Bytes(o, 4, packedCpus);
            Bytes(o, 5, memory);
        });
        return Message(o =>
        {
            Bytes(o, 1, pod);
            o.WriteTag(7, WireFormat.WireType.Varint);
            o.WriteInt32(5);
        });
    }
}
