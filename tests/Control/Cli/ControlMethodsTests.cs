using MetaGpu.Control.Cli;
using MetaGpu.Control.V1;

namespace MetaGpu.Tests.Control.Cli;

/// <summary>mgctl's own method descriptors say on the wire what the generated service does.</summary>
public sealed class ControlMethodsTests
{
    [Fact]
    public void NamesAndShapesAreTheServiceDescriptors()
    {
        var service = ControlReflection.Descriptor.Services.Single();
        Assert.Equal(ControlMethods.Service, service.FullName);
        var ours = new Grpc.Core.IMethod[]
        {
            ControlMethods.Info, ControlMethods.ListDevices, ControlMethods.ListContainers, ControlMethods.WatchContainers, ControlMethods.KillProcess, ControlMethods.Ping,
        };
        Assert.Equal(service.Methods.Select(m => m.Name).Order(), ours.Select(m => m.Name).Order());
        foreach (var m in ours)
        {
            var d = service.FindMethodByName(m.Name);
            Assert.Equal($"/{service.FullName}/{d.Name}", m.FullName);
            Assert.Equal(d.IsServerStreaming ? Grpc.Core.MethodType.ServerStreaming : Grpc.Core.MethodType.Unary, m.Type);
        }
        Assert.Equal(typeof(InfoResponse), ControlMethods.Info.ResponseMarshaller.GetType().GetGenericArguments()[0]);
    }
}
