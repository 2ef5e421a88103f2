using System.Net.Sockets;
using Grpc.Core;
using Grpc.Net.Client;
using MetaGpu.Rpc.Grpc;
using MetaGpu.Rpc.Http2;

namespace MetaGpu.Tests.Transport;

/// <summary>
/// Our <see cref="GrpcServer"/> on a fresh socket with byte-level methods: <c>/test.Raw/Echo</c> (unary echo) and
/// <c>/test.Raw/Hold</c> (client streaming that never reads its request: a slow reader).
/// </summary>
public sealed class RawServiceFixture : IAsyncDisposable
{
    public static readonly Marshaller<byte[]> Bytes = Marshallers.Create(b => b, b => b);
    public static readonly Method<byte[], byte[]> EchoMethod = new(MethodType.Unary, "test.Raw", "Echo", Bytes, Bytes);
    public static readonly Method<byte[], byte[]> HoldMethod = new(MethodType.ClientStreaming, "test.Raw", "Hold", Bytes, Bytes);
    public static readonly Method<byte[], byte[]> SlowMethod = new(MethodType.Unary, "test.Raw", "Slow", Bytes, Bytes);

    /// <summary>Unary echo bound inline (run on the connection's read loop); a request starting with 0xFF throws.</summary>
    public static readonly Method<byte[], byte[]> InlineEchoMethod = new(MethodType.Unary, "test.Raw", "InlineEcho", Bytes, Bytes);

    /// <summary>
    /// Unary echo bound inline up to <see cref="BoundedInlineMaxBytes"/>-byte requests; one starting with 0xEE waits
    /// (blocking its thread) until <see cref="ReleaseBlocked"/> is set.
    /// </summary>
    public static readonly Method<byte[], byte[]> BoundedInlineMethod = new(MethodType.Unary, "test.Raw", "BoundedInline", Bytes, Bytes);

    public const int BoundedInlineMaxBytes = 16;

    /// <summary>Lets the blocked /BoundedInline handlers go on.</summary>
    public ManualResetEventSlim ReleaseBlocked { get; } = new();

    private readonly string _directory;

    public RawServiceFixture(GrpcServerOptions? options = null)
    {
        _directory = Path.Combine(Path.GetTempPath(), "mg-raw-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(_directory);
        SocketPath = Path.Combine(_directory, "raw.sock");
        // Each fixture stands for a daemon of its own: tests running side by side must not share one budget.
        options ??= new GrpcServerOptions();
        if (ReferenceEquals(options.MemoryBudget, MemoryBudget.Shared))
            options.MemoryBudget = new MemoryBudget(MemoryBudget.DefaultLimit);
        Server = new GrpcServer(options).AddService(binder =>
        {
            binder.AddMethod(EchoMethod, (UnaryServerMethod<byte[], byte[]>)((request, context) => Task.FromResult(request)));
            binder.AddMethod(SlowMethod, (UnaryServerMethod<byte[], byte[]>)(async (request, context) =>
            {
                Interlocked.Increment(ref _slowStarted);
                await Task.Delay(request.Length > 0 ? request[0] * 10 : 0, context.CancellationToken);
                return request;
            }));
            binder.AddMethod(HoldMethod, (ClientStreamingServerMethod<byte[], byte[]>)(async (requests, context) =>
            {
                HoldStarted.TrySetResult();
                try
                {
                    await Task.Delay(Timeout.Infinite, context.CancellationToken);
                }
                finally
                {
                    HoldEnded.TrySetResult();
                }
                return [];
            }));
        }).AddUnary(InlineEchoMethod, (request, context) =>
        {
            Interlocked.Increment(ref _inlineCalls);
            return request is [0xFF, ..] ? throw new InvalidOperationException("asked to fail") : Task.FromResult(request);
        }, inline: true).AddUnary(BoundedInlineMethod, (request, context) =>
        {
            if (request is [0xEE, ..])
                ReleaseBlocked.Wait(TimeSpan.FromSeconds(30));
            return Task.FromResult(request);
        }, inline: true, inlineMaxRequestBytes: BoundedInlineMaxBytes);
        Server.ListenUnix(SocketPath);
    }

    private int _slowStarted;
    private int _inlineCalls;

    /// <summary>How many /InlineEcho handlers ran.</summary>
    public int InlineCalls => Volatile.Read(ref _inlineCalls);

    /// <summary>How many /Slow calls have started: lets a test wait until a call is really in flight.</summary>
    public int SlowStarted => Volatile.Read(ref _slowStarted);

    public GrpcServer Server { get; }
    public string SocketPath { get; }
    public TaskCompletionSource HoldStarted { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Set when a /Hold handler returns (its call was cancelled): a reset call must not leave its handler behind.</summary>
    public TaskCompletionSource HoldEnded { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>A normal call from a fresh, independent client (Grpc.Net.Client): the server must still serve it.</summary>
    public async Task AssertServesFreshClientAsync()
    {
        using var channel = GrpcNetChannel(SocketPath);
        var payload = new byte[] { 1, 2, 3, 4, 5 };
        var reply = await channel.CreateCallInvoker().AsyncUnaryCall(EchoMethod, null, new CallOptions(deadline: DateTime.UtcNow.AddSeconds(10)), payload);
        Assert.Equal(payload, reply);
    }

    public static GrpcChannel GrpcNetChannel(string path) => GrpcChannel.ForAddress("http://localhost", new GrpcChannelOptions
    {
        DisposeHttpClient = true,
        HttpHandler = new SocketsHttpHandler
        {
            ConnectCallback = async (_, ct) =>
            {
                var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                await s.ConnectAsync(new UnixDomainSocketEndPoint(path), ct);
                return new NetworkStream(s, ownsSocket: true);
            },
        },
    });

    public async ValueTask DisposeAsync()
    {
        await Server.DisposeAsync();
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
