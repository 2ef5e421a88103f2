using Grpc.Core;
using MetaGpu.Control.V1;
using MetaGpu.Rpc.Grpc;

namespace MetaGpu.Control;

/// <summary>
/// The control API's methods, as the daemon serves them and mgctl calls them (see <see cref="ProtobufMethods"/> for
/// why not the generated service classes; the tests check them against the generated service descriptor).
/// </summary>
internal static class ControlMethods
{
    public const string Service = "metagpu.v1.Control";

    public static readonly Method<InfoRequest, InfoResponse> Info = ProtobufMethods.Unary(Service, "Info", InfoRequest.Parser, InfoResponse.Parser);
    public static readonly Method<ListDevicesRequest, ListDevicesResponse> ListDevices =
        ProtobufMethods.Unary(Service, "ListDevices", ListDevicesRequest.Parser, ListDevicesResponse.Parser);
    public static readonly Method<ListContainersRequest, ListContainersResponse> ListContainers =
        ProtobufMethods.Unary(Service, "ListContainers", ListContainersRequest.Parser, ListContainersResponse.Parser);
    public static readonly Method<KillProcessRequest, KillProcessResponse> KillProcess =
        ProtobufMethods.Unary(Service, "KillProcess", KillProcessRequest.Parser, KillProcessResponse.Parser);
    public static readonly Method<PingRequest, PingResponse> Ping = ProtobufMethods.Unary(Service, "Ping", PingRequest.Parser, PingResponse.Parser);
    public static readonly Method<ListContainersRequest, ListContainersResponse> WatchContainers =
        ProtobufMethods.ServerStreaming(Service, "WatchContainers", ListContainersRequest.Parser, ListContainersResponse.Parser);
}
