using Grpc.Core;

namespace MetaGpu.Rpc.Grpc;

/// <summary>The <see cref="CallInvoker"/> behind <see cref="UnixChannel"/>: every call shape over the channel's connection.</summary>
internal sealed class UnixCallInvoker(UnixChannel channel) : CallInvoker
{
    public override TResponse BlockingUnaryCall<TRequest, TResponse>(Method<TRequest, TResponse> method, string? host, CallOptions options, TRequest request)
    {
        using var call = AsyncUnaryCall(method, host, options, request);
        return call.ResponseAsync.GetAwaiter().GetResult();
    }

    public override AsyncUnaryCall<TResponse> AsyncUnaryCall<TRequest, TResponse>(Method<TRequest, TResponse> method, string? host, CallOptions options, TRequest request)
    {
        var call = ClientCall.Start(channel, method, options, request);
        var response = ClientCall.Typed<TResponse>(call.ReadSingleResponseAsync());
        return new AsyncUnaryCall<TResponse>(response, call.ResponseHeadersAsync, call.GetStatus, call.GetTrailers, call.Dispose);
    }

    public override AsyncServerStreamingCall<TResponse> AsyncServerStreamingCall<TRequest, TResponse>(Method<TRequest, TResponse> method, string? host, CallOptions options, TRequest request)
    {
        var call = ClientCall.Start(channel, method, options, request);
        return new AsyncServerStreamingCall<TResponse>(ClientCall.ResponseStream<TResponse>(call), call.ResponseHeadersAsync, call.GetStatus, call.GetTrailers, call.Dispose);
    }

    public override AsyncClientStreamingCall<TRequest, TResponse> AsyncClientStreamingCall<TRequest, TResponse>(Method<TRequest, TResponse> method, string? host, CallOptions options)
    {
        var call = ClientCall.Start(channel, method, options, request: null);
        return new AsyncClientStreamingCall<TRequest, TResponse>(ClientCall.RequestStream(call, method.RequestMarshaller), ClientCall.Typed<TResponse>(call.ReadSingleResponseAsync()),
            call.ResponseHeadersAsync, call.GetStatus, call.GetTrailers, call.Dispose);
    }

    public override AsyncDuplexStreamingCall<TRequest, TResponse> AsyncDuplexStreamingCall<TRequest, TResponse>(Method<TRequest, TResponse> method, string? host, CallOptions options)
    {
        var call = ClientCall.Start(channel, method, options, request: null);
        return new AsyncDuplexStreamingCall<TRequest, TResponse>(ClientCall.RequestStream(call, method.RequestMarshaller), ClientCall.ResponseStream<TResponse>(call),
            call.ResponseHeadersAsync, call.GetStatus, call.GetTrailers, call.Dispose);
    }
}
