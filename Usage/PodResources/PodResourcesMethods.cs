using Grpc.Core;
using MetaGpu.Proto.PodResources.V1;
using MetaGpu.Rpc.Grpc;

namespace MetaGpu.Usage.PodResources;

/// <summary>The kubelet's pod-resources API v1, the one method we call (see <see cref="ProtobufMethods"/>).</summary>
internal static class PodResourcesMethods
{
    public const string Service = "v1.PodResourcesLister";

    public static readonly Method<ListPodResourcesRequest, ListPodResourcesResponse> List =
        ProtobufMethods.Unary(Service, "List", ListPodResourcesRequest.Parser, ListPodResourcesResponse.Parser);
}
