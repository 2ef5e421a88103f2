using Google.Protobuf;
using Grpc.Core;
using MetaGpu.Control.V1;

namespace MetaGpu.Control.Cli;

/// <summary>
/// The control API's methods as mgctl calls them, straight on the channel's call invoker. The generated
/// <c>Control.ControlClient</c> goes through Grpc.Core.Api's intercepting invoker, whose shared generic code the
/// native-AOT runtime completes at run time (its type loader), and its marshallers ask reflection whether a message is
/// an IBufferMessage: together about a third of mgctl's own CPU time per call, measured with perf. These say the
/// same on the wire (the names are checked against the generated service descriptor in the tests).
/// </summary>
internal static class ControlMethods
{
    public const string Service = "metagpu.v1.Control";

    public static readonly Method<InfoRequest, InfoResponse> Info = Unary("Info", InfoRequest.Parser, InfoResponse.Parser);
    public static readonly Method<ListDevicesRequest, ListDevicesResponse> ListDevices = Unary("ListDevices", ListDevicesRequest.Parser, ListDevicesResponse.Parser);
    public static readonly Method<ListContainersRequest, ListContainersResponse> ListContainers =
        Unary("ListContainers", ListContainersRequest.Parser, ListContainersResponse.Parser);
    public static readonly Method<KillProcessRequest, KillProcessResponse> KillProcess = Unary("KillProcess", KillProcessRequest.Parser, KillProcessResponse.Parser);
    public static readonly Method<PingRequest, PingResponse> Ping = Unary("Ping", PingRequest.Parser, PingResponse.Parser);
    public static readonly Method<ListContainersRequest, ListContainersResponse> WatchContainers =
        new(MethodType.ServerStreaming, Service, "WatchContainers", Marshal(ListContainersRequest.Parser), Marshal(ListContainersResponse.Parser));

    private static Method<TRequest, TResponse> Unary<TRequest, TResponse>(string name, MessageParser<TRequest> request, MessageParser<TResponse> response)
        where TRequest : class, IMessage<TRequest>
        where TResponse : class, IMessage<TResponse> =>
        new(MethodType.Unary, Service, name, Marshal(request), Marshal(response));

    private static Marshaller<T> Marshal<T>(MessageParser<T> parser) where T : class, IMessage<T> =>
        new(static (message, context) => context.Complete(message.ToByteArray()), context => parser.ParseFrom(context.PayloadAsReadOnlySequence()));
}
