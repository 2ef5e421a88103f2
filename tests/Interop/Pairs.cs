using System.Reflection;
using Xunit.Sdk;

namespace MetaGpu.Tests.Interop;

/// <summary>Which gRPC server hosts the <see cref="EchoService"/>.</summary>
public enum ServerKind
{
    /// <summary>MetaGPU's own <c>GrpcServer</c>.</summary>
    Ours,

    /// <summary>Kestrel + Grpc.AspNetCore.</summary>
    Kestrel,
}

/// <summary>Which gRPC client calls it.</summary>
public enum ClientKind
{
    /// <summary>MetaGPU's own <c>UnixChannel</c>.</summary>
    Ours,

    /// <summary>Grpc.Net.Client over SocketsHttpHandler.</summary>
    GrpcNet,
}

/// <summary>
/// A client talking to a server over a Unix socket. The names show in every test's display name,
/// e.g. <c>Unary_Text(pair: GrpcNetClient_to_OurServer)</c>; filter with <c>DisplayName~GrpcNetClient_to_Kestrel</c>.
/// </summary>
public enum Pair
{
    /// <summary>A mature client against our server: does our server speak gRPC as others expect it?</summary>
    GrpcNetClient_to_OurServer,

    /// <summary>Our client against a mature server: does our client speak gRPC as others expect it?</summary>
    OurClient_to_Kestrel,

    /// <summary>Our client against our server: what MetaGPU actually runs in production.</summary>
    OurClient_to_OurServer,

    /// <summary>The reference: two independent, mature implementations. Proves each test's assertions are right.</summary>
    GrpcNetClient_to_Kestrel,
}

public static class PairExtensions
{
    public static ServerKind Server(this Pair pair) => pair switch
    {
        Pair.GrpcNetClient_to_OurServer or Pair.OurClient_to_OurServer => ServerKind.Ours,
        _ => ServerKind.Kestrel,
    };

    public static ClientKind Client(this Pair pair) => pair switch
    {
        Pair.OurClient_to_Kestrel or Pair.OurClient_to_OurServer => ClientKind.Ours,
        _ => ClientKind.GrpcNet,
    };
}

/// <summary>Supplies every <see cref="Pair"/> to a theory, one test case per pair.</summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class AllPairsAttribute : DataAttribute
{
    public override IEnumerable<object[]> GetData(MethodInfo testMethod) =>
        Enum.GetValues<Pair>().Select(p => new object[] { p });
}
