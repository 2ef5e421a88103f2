using System.Collections.Concurrent;
using Google.Protobuf;
using Grpc.Core;
using MetaGpu.Tests.Echo;

namespace MetaGpu.Tests.Interop;

/// <summary>
/// The one Echo implementation that both servers (ours and Kestrel + Grpc.AspNetCore) host, so every
/// difference a test sees comes from the transport, never from the service.
/// </summary>
/// <remarks>
/// Calls may carry a <see cref="CallIdHeader"/>. The service then signals when that call's handler started
/// (<see cref="WaitForStartAsync"/>) and when it observed that the call was cancelled
/// (<see cref="WaitForCancellationAsync"/>): its cancellation token fired, or the transport ended the handler
/// with an exception (a write or read failing because the peer reset the stream; servers may do either first).
/// A handler failing on request (<see cref="EchoRequest.FailWithCode"/>) is not a cancellation.
/// </remarks>
public sealed class EchoService : Echo.Echo.EchoBase
{
    /// <summary>Request header naming a call, for <see cref="WaitForStartAsync"/> and <see cref="WaitForCancellationAsync"/>.</summary>
    public const string CallIdHeader = "x-call-id";

    /// <summary>Response header written by Unary before its reply.</summary>
    public const string ResponseHeader = "echo-header";

    /// <summary>Trailer sent by Unary, ServerStream, ClientStream, Duplex and on requested errors.</summary>
    public const string Trailer = "echo-trailer";

    /// <summary>Binary trailer sent by Unary.</summary>
    public const string BinaryTrailer = "echo-trailer-bin";

    /// <summary>The value of <see cref="BinaryTrailer"/>: bytes that are not valid ASCII nor UTF-8.</summary>
    public static readonly byte[] BinaryTrailerValue = [0x00, 0x01, 0x7F, 0x80, 0xC3, 0x28, 0xFE, 0xFF];

    readonly ConcurrentDictionary<string, CallRecord> calls = new();
    int cancellations;
    int callsStarted;
    int callsFinished;
    int inFlight;
    int maxInFlight;

    /// <summary>How many handler invocations observed their call being cancelled.</summary>
    public int Cancellations => Volatile.Read(ref cancellations);

    /// <summary>Handler invocations begun.</summary>
    public int CallsStarted => Volatile.Read(ref callsStarted);

    /// <summary>Handler invocations returned or thrown.</summary>
    public int CallsFinished => Volatile.Read(ref callsFinished);

    /// <summary>The most handler invocations that ran at the same time.</summary>
    public int MaxInFlight => Volatile.Read(ref maxInFlight);

    /// <summary>Completes when the handler of the call carrying <see cref="CallIdHeader"/> = <paramref name="callId"/> has started.</summary>
    public Task WaitForStartAsync(string callId) => Record(callId).Started.Task;

    /// <summary>Whether the handler of that call has started.</summary>
    public bool HasStarted(string callId) => Record(callId).Started.Task.IsCompleted;

    /// <summary>Completes, with how it was noticed, when the handler of that call observed the call's cancellation.</summary>
    public Task<string> WaitForCancellationAsync(string callId) => Record(callId).Cancelled.Task;

    CallRecord Record(string callId) => calls.GetOrAdd(callId, _ => new CallRecord());

    sealed class CallRecord
    {
        public readonly TaskCompletionSource Started = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public readonly TaskCompletionSource<string> Cancelled = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    /// <summary>What a handler throws when the request asked it to fail: the status the client must see.</summary>
    sealed class RequestedFailure(Status status, Metadata trailers) : RpcException(status, trailers);

    /// <summary>One handler invocation: counted, and watched for cancellation.</summary>
    sealed class CallScope : IDisposable
    {
        readonly EchoService owner;
        readonly CallRecord? record;
        readonly CancellationToken token;
        readonly CancellationTokenRegistration registration;
        int observed;

        public CallScope(EchoService owner, ServerCallContext context)
        {
            this.owner = owner;
            token = context.CancellationToken;
            var id = context.RequestHeaders.GetValue(CallIdHeader);
            record = id is null ? null : owner.Record(id);

            Interlocked.Increment(ref owner.callsStarted);
            var now = Interlocked.Increment(ref owner.inFlight);
            for (var max = Volatile.Read(ref owner.maxInFlight); now > max; max = Volatile.Read(ref owner.maxInFlight))
                if (Interlocked.CompareExchange(ref owner.maxInFlight, now, max) == max)
                    break;

            record?.Started.TrySetResult();
            registration = token.Register(static state => ((CallScope)state!).Observe("cancellation token"), this);
        }

        void Observe(string how)
        {
            if (Interlocked.Exchange(ref observed, 1) != 0)
                return;
            Interlocked.Increment(ref owner.cancellations);
            record?.Cancelled.TrySetResult(how);
        }

        /// <summary>An exception filter: notes how the handler ended, never catches.</summary>
        public bool Ended(Exception e)
        {
            if (e is not RequestedFailure)
                Observe(token.IsCancellationRequested ? "cancellation token" : $"{e.GetType().Name}: {e.Message}");
            return false;
        }

        public void Dispose()
        {
            registration.Dispose();
            Interlocked.Decrement(ref owner.inFlight);
            Interlocked.Increment(ref owner.callsFinished);
        }
    }

    async Task<T> Track<T>(ServerCallContext context, Func<Task<T>> handler)
    {
        using var scope = new CallScope(this, context);
        try
        {
            return await handler();
        }
        catch (Exception e) when (scope.Ended(e))
        {
            throw;
        }
    }

    async Task Track(ServerCallContext context, Func<Task> handler)
    {
        using var scope = new CallScope(this, context);
        try
        {
            await handler();
        }
        catch (Exception e) when (scope.Ended(e))
        {
            throw;
        }
    }

    /// <summary>Request metadata as "key=value", binary values base64, in the order received.</summary>
    public static IEnumerable<string> Describe(Metadata metadata) =>
        metadata.Select(e => e.IsBinary ? $"{e.Key}={Convert.ToBase64String(e.ValueBytes)}" : $"{e.Key}={e.Value}");

    static void ThrowIfAsked(EchoRequest request)
    {
        if (request.FailWithCode != 0)
            throw new RequestedFailure(
                new Status((StatusCode)request.FailWithCode, request.FailMessage),
                new Metadata { { Trailer, "failed" } });
    }

    public override Task<EchoReply> Unary(EchoRequest request, ServerCallContext context) => Track(context, async () =>
    {
        if (request.DelayMs > 0)
            await Task.Delay(request.DelayMs, context.CancellationToken);
        ThrowIfAsked(request);

        await context.WriteResponseHeadersAsync(new Metadata { { ResponseHeader, "unary" } });
        context.ResponseTrailers.Add(Trailer, "done");
        context.ResponseTrailers.Add(BinaryTrailer, BinaryTrailerValue);

        var reply = new EchoReply { Text = request.Text, Payload = request.Payload };
        reply.SeenMetadata.AddRange(Describe(context.RequestHeaders));
        return reply;
    });

    /// <summary>The payload of stream message <paramref name="sequence"/>: byte j is (sequence + j) mod 256.</summary>
    public static byte[] StreamPayload(int sequence, int size)
    {
        var bytes = new byte[size];
        for (var j = 0; j < size; j++)
            bytes[j] = unchecked((byte)(sequence + j));
        return bytes;
    }

    public override Task ServerStream(StreamRequest request, IServerStreamWriter<EchoReply> responseStream, ServerCallContext context) => Track(context, async () =>
    {
        var token = context.CancellationToken;
        for (var i = 0; i < request.Count; i++)
        {
            token.ThrowIfCancellationRequested();
            if (request.DelayMs > 0 && i > 0)
                await Task.Delay(request.DelayMs, token);
            var reply = new EchoReply { Sequence = i, Text = "m" + i };
            if (request.PayloadSize > 0)
                reply.Payload = UnsafeByteOperations.UnsafeWrap(StreamPayload(i, request.PayloadSize));
            await responseStream.WriteAsync(reply, token);
        }
        context.ResponseTrailers.Add(Trailer, "streamed " + request.Count);
    });

    public override Task<EchoReply> ClientStream(IAsyncStreamReader<EchoRequest> requestStream, ServerCallContext context) => Track(context, async () =>
    {
        var count = 0;
        var texts = new List<string>();
        using var payload = new MemoryStream();
        await foreach (var request in requestStream.ReadAllAsync(context.CancellationToken))
        {
            ThrowIfAsked(request);
            count++;
            texts.Add(request.Text);
            request.Payload.WriteTo(payload);
        }
        context.ResponseTrailers.Add(Trailer, "received " + count);
        return new EchoReply
        {
            Sequence = count,
            Text = string.Join("|", texts),
            Payload = UnsafeByteOperations.UnsafeWrap(payload.ToArray()),
        };
    });

    public override Task Duplex(IAsyncStreamReader<EchoRequest> requestStream, IServerStreamWriter<EchoReply> responseStream, ServerCallContext context) => Track(context, async () =>
    {
        var sequence = 0;
        await foreach (var request in requestStream.ReadAllAsync(context.CancellationToken))
        {
            ThrowIfAsked(request);
            if (request.DelayMs > 0)
                await Task.Delay(request.DelayMs, context.CancellationToken);
            await responseStream.WriteAsync(new EchoReply { Sequence = sequence++, Text = request.Text, Payload = request.Payload }, context.CancellationToken);
        }
        context.ResponseTrailers.Add(Trailer, "duplexed " + sequence);
    });
}
