using Google.Protobuf;
using Grpc.Core;

namespace MetaGpu.Rpc.Grpc;

/// <summary>
/// gRPC method descriptors for protobuf messages, made without the generated service classes. A generated client
/// calls through Grpc.Core.Api's <see cref="CallInvoker"/> and a generated service binds itself through
/// <see cref="ServiceBinderBase"/>, both generic virtual methods, which native AOT completes at run time with its type
/// loader (most of the daemon's start-up CPU, measured); the generated marshallers also ask reflection whether a
/// message type is an <see cref="IBufferMessage"/>. These descriptors say the same on the wire (the tests check every
/// name against the generated service descriptors), and their marshallers write straight into the call's buffer.
/// </summary>
public static class ProtobufMethods
{
    public static Method<TRequest, TResponse> Unary<TRequest, TResponse>(string service, string name, MessageParser<TRequest> request, MessageParser<TResponse> response)
        where TRequest : class, IMessage<TRequest>, IBufferMessage
        where TResponse : class, IMessage<TResponse>, IBufferMessage =>
        new(MethodType.Unary, service, name, Marshaller(request), Marshaller(response));

    public static Method<TRequest, TResponse> ServerStreaming<TRequest, TResponse>(string service, string name, MessageParser<TRequest> request, MessageParser<TResponse> response)
        where TRequest : class, IMessage<TRequest>, IBufferMessage
        where TResponse : class, IMessage<TResponse>, IBufferMessage =>
        new(MethodType.ServerStreaming, service, name, Marshaller(request), Marshaller(response));

    public static Marshaller<T> Marshaller<T>(MessageParser<T> parser) where T : class, IMessage<T>, IBufferMessage =>
        new(static (message, context) =>
        {
            context.SetPayloadLength(message.CalculateSize());
            message.WriteTo(context.GetBufferWriter());
            context.Complete();
        }, context => parser.ParseFrom(context.PayloadAsReadOnlySequence()));
}
