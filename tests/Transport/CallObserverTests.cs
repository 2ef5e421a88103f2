using System.Collections.Concurrent;
using Grpc.Core;
using MetaGpu.Rpc.Grpc;

namespace MetaGpu.Tests.Transport;

/// <summary><see cref="GrpcServerOptions.CallFinished"/>: what the metrics' per-RPC latency histogram is fed from.</summary>
public sealed class CallObserverTests
{
    [Fact]
    public async Task EveryFinishedCallIsReportedWithItsMethodStatusAndDuration()
    {
        var seen = new ConcurrentQueue<(string Method, StatusCode Status, TimeSpan Elapsed)>();
        await using var fx = new RawServiceFixture(new GrpcServerOptions { CallFinished = (m, s, t) => seen.Enqueue((m, s, t)) });
        using var channel = new UnixChannel(fx.SocketPath);
        var invoker = channel.CreateCallInvoker();

        Assert.Equal([7], await invoker.AsyncUnaryCall(RawServiceFixture.EchoMethod, null, default, [7]).ResponseAsync);
        // The slow method sleeps 10 ms per unit of its first byte: 30 ms.
        Assert.Equal([3], await invoker.AsyncUnaryCall(RawServiceFixture.SlowMethod, null, default, [3]).ResponseAsync);
        var failed = await Assert.ThrowsAsync<RpcException>(() =>
            invoker.AsyncUnaryCall(RawServiceFixture.SlowMethod, null, new CallOptions(deadline: DateTime.UtcNow.AddMilliseconds(50)), [250]).ResponseAsync);
        Assert.Equal(StatusCode.DeadlineExceeded, failed.StatusCode);

        // The report follows the status on the wire: poll for it.
        var until = DateTime.UtcNow.AddSeconds(20);
        while (seen.Count < 3 && DateTime.UtcNow < until)
            await Task.Delay(20);
        var calls = seen.ToArray();
        Assert.Equal(3, calls.Length);
        Assert.Equal(("/test.Raw/Echo", StatusCode.OK), (calls[0].Method, calls[0].Status));
        Assert.Equal(("/test.Raw/Slow", StatusCode.OK), (calls[1].Method, calls[1].Status));
        Assert.True(calls[1].Elapsed >= TimeSpan.FromMilliseconds(25), $"the slow call took {calls[1].Elapsed}");
        Assert.Equal("/test.Raw/Slow", calls[2].Method);
        Assert.NotEqual(StatusCode.OK, calls[2].Status);
    }
}
