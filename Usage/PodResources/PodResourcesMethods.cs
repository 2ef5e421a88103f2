using Google.Protobuf;
using Grpc.Core;
using MetaGpu.Proto.PodResources.V1;
using MetaGpu.Rpc.Grpc;

namespace MetaGpu.Usage.PodResources;

/// <summary>The kubelet's pod-resources API v1, the one method we call (see <see cref="ProtobufMethods"/>).</summary>
internal static class PodResourcesMethods
{
    public const string Service = "v1.PodResourcesLister";

    /// <summary>
    /// The answer's parser drops what our .proto leaves out (each device's NUMA topology, CPU IDs, memory, dynamic
    /// resources) instead of keeping it as unknown fields: nothing reads it, and on a node with many pods it is most
    /// of the answer.
    /// </summary>
    public static readonly MessageParser<ListPodResourcesResponse> ResponseParser = ListPodResourcesResponse.Parser.WithDiscardUnknownFields(true);

    public static readonly Method<ListPodResourcesRequest, ListPodResourcesResponse> List =
        ProtobufMethods.Unary(Service, "List", ListPodResourcesRequest.Parser, ResponseParser);
}
