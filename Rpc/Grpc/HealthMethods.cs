using Grpc.Core;
using MetaGpu.Proto.Health.V1;

namespace MetaGpu.Rpc.Grpc;

/// <summary>The standard gRPC health service's methods (see <see cref="ProtobufMethods"/>).</summary>
public static class HealthMethods
{
    public const string Service = "grpc.health.v1.Health";

    public static readonly Method<HealthCheckRequest, HealthCheckResponse> Check =
        ProtobufMethods.Unary(Service, "Check", HealthCheckRequest.Parser, HealthCheckResponse.Parser);
    public static readonly Method<HealthCheckRequest, HealthCheckResponse> Watch =
        ProtobufMethods.ServerStreaming(Service, "Watch", HealthCheckRequest.Parser, HealthCheckResponse.Parser);
}
