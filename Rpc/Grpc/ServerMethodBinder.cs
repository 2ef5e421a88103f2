using System.Runtime.CompilerServices;
using Grpc.Core;

namespace MetaGpu.Rpc.Grpc;

/// <summary>Collects the methods of service definitions into a table keyed by <c>/package.Service/Method</c>.</summary>
internal sealed class ServerMethodBinder : ServiceBinderBase
{
    public Dictionary<string, IServerMethod> Methods { get; } = new(StringComparer.Ordinal);
    public HashSet<string> Services { get; } = new(StringComparer.Ordinal);

    public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, UnaryServerMethod<TRequest, TResponse>? handler)
        => Add(method, new ServerMethod<TRequest, TResponse>(method) { Unary = handler });

    public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, ClientStreamingServerMethod<TRequest, TResponse>? handler)
        => Add(method, new ServerMethod<TRequest, TResponse>(method) { ClientStreaming = handler });

    public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, ServerStreamingServerMethod<TRequest, TResponse>? handler)
        => Add(method, new ServerMethod<TRequest, TResponse>(method) { ServerStreaming = handler });

    public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, DuplexStreamingServerMethod<TRequest, TResponse>? handler)
        => Add(method, new ServerMethod<TRequest, TResponse>(method) { Duplex = handler });

    public void Add(IMethod method, IServerMethod serverMethod)
    {
        if (!Methods.TryAdd(method.FullName, serverMethod))
            throw new InvalidOperationException($"method {method.FullName} is already bound");
        Services.Add(method.ServiceName);
    }

    /// <summary>
    /// <see cref="ServerServiceDefinition"/> exposes its binding only to Grpc.Core's own servers (an internal method);
    /// an unsafe accessor reaches it without reflection, so native AOT keeps it.
    /// </summary>
    [UnsafeAccessor(UnsafeAccessorKind.Method, Name = "BindService")]
    public static extern void BindDefinition(ServerServiceDefinition definition, ServiceBinderBase binder);
}
