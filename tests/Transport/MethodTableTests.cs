using Google.Protobuf.Reflection;
using Grpc.Core;
using MetaGpu.Control;
using MetaGpu.DevicePlugin;
using MetaGpu.Rpc.Grpc;
using MetaGpu.Usage.PodResources;

namespace MetaGpu.Tests.Transport;

/// <summary>
/// The product binds and calls methods through its own descriptors (<see cref="ProtobufMethods"/>), not the
/// generated service classes: each must say on the wire exactly what the generated service descriptor says.
/// </summary>
public sealed class MethodTableTests
{
    private static void AssertSame(ServiceDescriptor service, IEnumerable<IMethod> ours, bool everyMethod = true)
    {
        var list = ours.ToList();
        if (everyMethod)
            Assert.Equal(service.Methods.Select(m => m.Name).Order(StringComparer.Ordinal), list.Select(m => m.Name).Order(StringComparer.Ordinal));
        foreach (var m in list)
        {
            var d = service.FindMethodByName(m.Name);
            Assert.NotNull(d);
            Assert.Equal(service.FullName, m.ServiceName);
            Assert.Equal($"/{service.FullName}/{d.Name}", m.FullName);
            Assert.False(d.IsClientStreaming);
            Assert.Equal(d.IsServerStreaming ? MethodType.ServerStreaming : MethodType.Unary, m.Type);
            var types = m.GetType().GetGenericArguments();
            Assert.Equal(d.InputType.ClrType, types[0]);
            Assert.Equal(d.OutputType.ClrType, types[1]);
        }
    }

    [Fact]
    public void KubeletApiMethods()
    {
        var file = MetaGpu.Proto.DevicePlugin.V1Beta1.ApiReflection.Descriptor;
        AssertSame(file.Services.Single(s => s.Name == "Registration"), [MetaGpu.DevicePlugin.KubeletApi.Register]);
        AssertSame(file.Services.Single(s => s.Name == "DevicePlugin"),
        [
            MetaGpu.DevicePlugin.KubeletApi.GetDevicePluginOptions, MetaGpu.DevicePlugin.KubeletApi.ListAndWatch, MetaGpu.DevicePlugin.KubeletApi.GetPreferredAllocation,
            MetaGpu.DevicePlugin.KubeletApi.Allocate, MetaGpu.DevicePlugin.KubeletApi.PreStartContainer,
        ]);
    }

    [Fact]
    public void Health() =>
        AssertSame(MetaGpu.Proto.Health.V1.HealthReflection.Descriptor.Services.Single(), [HealthMethods.Check, HealthMethods.Watch]);

    [Fact]
    public void PodResourcesList() =>
        AssertSame(MetaGpu.Proto.PodResources.V1.ApiReflection.Descriptor.Services.Single(), [PodResourcesMethods.List], everyMethod: false);

    [Fact]
    public void Control() =>
        AssertSame(MetaGpu.Control.V1.ControlReflection.Descriptor.Services.Single(),
        [
            ControlMethods.Info, ControlMethods.ListDevices, ControlMethods.ListContainers, ControlMethods.WatchContainers,
            ControlMethods.KillProcess, ControlMethods.Ping,
        ]);

    /// <summary>The marshallers write what Google.Protobuf writes, and read it back.</summary>
    [Fact]
    public void MarshallersWriteAndReadTheProtobufBytes()
    {
        var request = new MetaGpu.Proto.DevicePlugin.V1Beta1.AllocateRequest();
        request.ContainerRequests.Add(new MetaGpu.Proto.DevicePlugin.V1Beta1.ContainerAllocateRequest { DevicesIds = { "cnvrg-meta-0-1-GPU-a", "cnvrg-meta-0-2-GPU-a" } });
        var writer = new ByteContext();
        MetaGpu.DevicePlugin.KubeletApi.Allocate.RequestMarshaller.ContextualSerializer(request, writer);
        Assert.Equal(Google.Protobuf.MessageExtensions.ToByteArray(request), writer.Written.ToArray());
        var back = MetaGpu.DevicePlugin.KubeletApi.Allocate.RequestMarshaller.ContextualDeserializer(new BytesIn(writer.Written.ToArray()));
        Assert.Equal(request, back);
    }

    private sealed class ByteContext : SerializationContext
    {
        private readonly System.Buffers.ArrayBufferWriter<byte> _buffer = new();
        public ReadOnlyMemory<byte> Written => _buffer.WrittenMemory;
        public override void Complete(byte[] payload) => System.Buffers.BuffersExtensions.Write(_buffer, payload);
        public override System.Buffers.IBufferWriter<byte> GetBufferWriter() => _buffer;
        public override void SetPayloadLength(int payloadLength) { }
        public override void Complete() { }
    }

    private sealed class BytesIn(byte[] bytes) : DeserializationContext
    {
        public override int PayloadLength => bytes.Length;
        public override byte[] PayloadAsNewBuffer() => bytes.ToArray();
        public override System.Buffers.ReadOnlySequence<byte> PayloadAsReadOnlySequence() => new(bytes);
    }
}
