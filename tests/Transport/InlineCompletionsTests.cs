using System.Net.Sockets;
using Grpc.Core;
using MetaGpu.Rpc.Grpc;
using MetaGpu.Rpc.Http2;

namespace MetaGpu.Tests.Transport;

/// <summary>
/// <see cref="GrpcServerOptions.InlineSocketCompletions"/>: a connection's read loop runs on the runtime's socket
/// event thread (".NET Sockets"), so an inline handler does too; a handler that may wait still runs on the pool, and
/// one that blocks its thread holds up no other connection. The device plugin's endpoint has it on.
/// </summary>
public sealed class InlineCompletionsTests
{
    private const string EventThread = ".NET Sockets";
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);
    private static readonly Marshaller<byte[]> Bytes = Marshallers.Create(b => b, b => b);
    private static readonly Method<byte[], byte[]> WhereInline = new(MethodType.Unary, "test.Where", "Inline", Bytes, Bytes);
    private static readonly Method<byte[], byte[]> WherePooled = new(MethodType.Unary, "test.Where", "Pooled", Bytes, Bytes);
    private static readonly Method<byte[], byte[]> Block = new(MethodType.Unary, "test.Where", "Block", Bytes, Bytes);

    private sealed class Server : IAsyncDisposable
    {
        private readonly string _directory = Path.Combine(Path.GetTempPath(), "mg-where-" + Guid.NewGuid().ToString("N")[..12]);
        public readonly GrpcServer Grpc;
        public readonly string SocketPath;
        public readonly ManualResetEventSlim Release = new();
        public readonly TaskCompletionSource Blocking = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Server(bool inlineCompletions)
        {
            Directory.CreateDirectory(_directory);
            SocketPath = Path.Combine(_directory, "where.sock");
            Grpc = new GrpcServer(new GrpcServerOptions { InlineSocketCompletions = inlineCompletions, MemoryBudget = new MemoryBudget(MemoryBudget.DefaultLimit) })
                .AddUnary(WhereInline, (_, _) => Task.FromResult(ThreadName()), inline: true)
                .AddUnary(WherePooled, (_, _) => Task.FromResult(ThreadName()))
                .AddUnary(Block, (request, _) =>
                {
                    // Blocks its thread, as a handler waiting on a disk would.
                    Blocking.TrySetResult();
                    Release.Wait(Timeout);
                    return Task.FromResult(request);
                });
            Grpc.ListenUnix(SocketPath);
        }

        private static byte[] ThreadName() => System.Text.Encoding.UTF8.GetBytes(Thread.CurrentThread.Name ?? "");

        public async ValueTask DisposeAsync()
        {
            Release.Set();
            await Grpc.DisposeAsync();
            Directory.Delete(_directory, recursive: true);
        }
    }

    private static async Task<string> AskAsync(UnixChannel channel, Method<byte[], byte[]> method) =>
        System.Text.Encoding.UTF8.GetString(await channel.UnaryAsync(method, [], new CallOptions(deadline: DateTime.UtcNow + Timeout)));

    [Fact]
    public async Task TheRuntimeRunsASocketsCompletionsOnItsEventThreadWhenAsked()
    {
        var directory = Path.Combine(Path.GetTempPath(), "mg-inl-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(directory);
        try
        {
            var path = Path.Combine(directory, "s.sock");
            using var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            listener.Bind(new UnixDomainSocketEndPoint(path));
            listener.Listen();
            foreach (var inline in new[] { false, true })
            {
                using var client = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                await client.ConnectAsync(new UnixDomainSocketEndPoint(path));
                using var accepted = await listener.AcceptAsync();
                if (inline)
                    Assert.True(InlineCompletions.TryEnable(accepted), "the runtime has no per-socket inline completions");
                var received = Task.Run(async () =>
                {
                    await accepted.ReceiveAsync(new byte[1], SocketFlags.None);
                    return Thread.CurrentThread.Name;
                });
                await Task.Delay(50); // the receive is pending, so it completes from the event thread
                await client.SendAsync(new byte[] { 1 }, SocketFlags.None);
                var thread = await received.WaitAsync(Timeout);
                if (inline)
                    Assert.Equal(EventThread, thread);
                else
                    Assert.NotEqual(EventThread, thread);
            }
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task AnInlineHandlerRunsOnTheEventThreadOnlyWhereTheServerAsksForIt(bool inlineCompletions)
    {
        await using var server = new Server(inlineCompletions);
        using var channel = new UnixChannel(server.SocketPath);
        await AskAsync(channel, WherePooled); // the connection is up and idle: the next call's bytes wake it
        var inline = new List<string>();
        for (var i = 0; i < 5; i++)
            inline.Add(await AskAsync(channel, WhereInline));
        if (inlineCompletions)
            Assert.Contains(EventThread, inline);
        else
            Assert.DoesNotContain(EventThread, inline);
        // A method not bound inline never runs there.
        for (var i = 0; i < 5; i++)
            Assert.NotEqual(EventThread, await AskAsync(channel, WherePooled));
    }

    [Fact]
    public async Task AHandlerThatBlocksItsThreadHoldsUpNoOtherConnection()
    {
        await using var server = new Server(inlineCompletions: true);
        using var blocked = new UnixChannel(server.SocketPath);
        var call = blocked.UnaryAsync(Block, [7], new CallOptions(deadline: DateTime.UtcNow + Timeout));
        await server.Blocking.Task.WaitAsync(Timeout);
        // While it blocks, another client is served, inline and not.
        using var other = new UnixChannel(server.SocketPath);
        var answered = Task.WhenAll(AskAsync(other, WhereInline), AskAsync(other, WherePooled));
        await answered.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.False(call.IsCompleted);
        server.Release.Set();
        Assert.Equal(new byte[] { 7 }, await call.WaitAsync(Timeout));
    }

    /// <summary>
    /// A peer that never stops sending keeps its socket readable: a read loop on the event thread would never give the
    /// thread back, and no other socket of the process would be served. Unknown frame types are read and ignored
    /// (RFC 9113 5.5), so the flood costs us reading only and is never answered; empty ones are the most work per byte.
    /// Measured here: 20 calls beside the flood took 140-170 ms with inline completions and 0.9-1.5 s without (the
    /// flood's read loop then holds a pool worker the calls need); alone they take a few ms.
    /// </summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task APeerThatNeverStopsSendingHoldsUpNoOtherConnection(bool inlineCompletions)
    {
        await using var server = new Server(inlineCompletions);
        await using var flooder = await RawHttp2Client.ConnectAsync(server.SocketPath);
        await flooder.HandshakeAsync();
        // Empty frames: each costs the reader a frame's work for 9 bytes, so the peer writes faster than we read.
        var frame = RawHttp2Client.Frame((FrameType)0xEE, FrameFlags.None, 0, []);
        var burst = new byte[frame.Length * 4096];
        for (var i = 0; i < 4096; i++)
            frame.CopyTo(burst, i * frame.Length);
        using var stop = new CancellationTokenSource();
        long sent = 0;
        var flooding = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                await flooder.SendAsync(burst);
                Interlocked.Add(ref sent, burst.Length);
            }
        });
        try
        {
            while (Interlocked.Read(ref sent) < 4 * burst.Length)
                await Task.Delay(10);
            using var other = new UnixChannel(server.SocketPath);
            var started = System.Diagnostics.Stopwatch.StartNew();
            for (var i = 0; i < 20; i++)
                await AskAsync(other, WhereInline).WaitAsync(TimeSpan.FromSeconds(5));
            Assert.True(started.Elapsed < TimeSpan.FromSeconds(5), $"20 calls took {started.Elapsed.TotalMilliseconds:F0} ms beside the flood");
            Assert.True(Interlocked.Read(ref sent) > 8 * burst.Length, "the flood stopped: it did not test anything");
        }
        finally
        {
            stop.Cancel();
            await flooder.DisposeAsync();
            await Task.WhenAny(flooding, Task.Delay(Timeout));
        }
    }
}
