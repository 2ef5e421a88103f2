using Grpc.Core;
using MetaGpu.Proto.DevicePlugin.V1Beta1;
using MetaGpu.Rpc.Grpc;

namespace MetaGpu.DevicePlugin;

/// <summary>
/// The kubelet's device-plugin API v1beta1: the Registration service we call and the DevicePlugin service we serve
/// (see <see cref="ProtobufMethods"/> for why not the generated service classes; the tests check these against the
/// generated service descriptors).
/// </summary>
public static class KubeletApi
{
    public const string RegistrationService = "v1beta1.Registration";
    public const string DevicePluginService = "v1beta1.DevicePlugin";

    public static readonly Method<RegisterRequest, Empty> Register = ProtobufMethods.Unary(RegistrationService, "Register", RegisterRequest.Parser, Empty.Parser);

    public static readonly Method<Empty, DevicePluginOptions> GetDevicePluginOptions =
        ProtobufMethods.Unary(DevicePluginService, "GetDevicePluginOptions", Empty.Parser, DevicePluginOptions.Parser);
    public static readonly Method<Empty, ListAndWatchResponse> ListAndWatch =
        ProtobufMethods.ServerStreaming(DevicePluginService, "ListAndWatch", Empty.Parser, ListAndWatchResponse.Parser);
    public static readonly Method<PreferredAllocationRequest, PreferredAllocationResponse> GetPreferredAllocation =
        ProtobufMethods.Unary(DevicePluginService, "GetPreferredAllocation", PreferredAllocationRequest.Parser, PreferredAllocationResponse.Parser);
    public static readonly Method<AllocateRequest, AllocateResponse> Allocate =
        ProtobufMethods.Unary(DevicePluginService, "Allocate", AllocateRequest.Parser, AllocateResponse.Parser);
    public static readonly Method<PreStartContainerRequest, PreStartContainerResponse> PreStartContainer =
        ProtobufMethods.Unary(DevicePluginService, "PreStartContainer", PreStartContainerRequest.Parser, PreStartContainerResponse.Parser);
}
