using System.Diagnostics;
using Grpc.Core;
using MetaGpu.Tests.Echo;

namespace MetaGpu.Tests.Interop;

/// <summary>Deadlines and cancellation: both ends must see them, and the connection must survive them.</summary>
public class CallControlInteropTests
{
    static readonly TimeSpan ServerNoticeTimeout = TimeSpan.FromSeconds(10);

    static async Task AssertServerObservedCancellation(InteropEnv env, string callId, string what)
    {
        env.Step("waiting for the server handler to observe " + what);
        try
        {
            await env.Service.WaitForCancellationAsync(callId).WaitAsync(ServerNoticeTimeout);
        }
        catch (TimeoutException)
        {
            Assert.Fail($"the server handler did not observe {what} within {ServerNoticeTimeout.TotalSeconds} s " +
                $"(handler started: {env.Service.HasStarted(callId)}; handlers started {env.Service.CallsStarted}, " +
                $"finished {env.Service.CallsFinished}, saw cancellation {env.Service.Cancellations})");
        }
    }

    static async Task WaitForHandlerStart(InteropEnv env, string callId)
    {
        env.Step("waiting for the server handler to start");
        try
        {
            await env.Service.WaitForStartAsync(callId).WaitAsync(ServerNoticeTimeout);
        }
        catch (TimeoutException)
        {
            Assert.Fail($"the server handler did not start within {ServerNoticeTimeout.TotalSeconds} s");
        }
    }

    static async Task AssertChannelStillWorks(InteropEnv env)
    {
        env.Step("a unary call on the same channel");
        var reply = await env.Client.UnaryAsync(new EchoRequest { Text = "still alive" });
        Assert.Equal("still alive", reply.Text);
    }

    [Theory, AllPairs]
    public Task Deadline_Exceeded(Pair pair) => InteropHarness.RunAsync(pair, async env =>
    {
        await AssertChannelStillWorks(env); // connect first, so the deadline only times the call
        var (id, headers) = InteropHarness.NewCall();
        env.Step("the call with a 200 ms deadline");
        var watch = Stopwatch.StartNew();
        var error = await Assert.ThrowsAsync<RpcException>(() =>
            env.Client.UnaryAsync(new EchoRequest { DelayMs = 5000 }, headers, deadline: DateTime.UtcNow.AddMilliseconds(200)).ResponseAsync);
        watch.Stop();

        Assert.Equal(StatusCode.DeadlineExceeded, error.StatusCode);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(2.5), $"DEADLINE_EXCEEDED took {watch.ElapsedMilliseconds} ms for a 200 ms deadline");

        // On a loaded machine the deadline can pass before the server dispatches the call at all; a server may
        // then drop it without running the handler. Only a handler that did run has something to observe.
        await Task.WhenAny(env.Service.WaitForStartAsync(id), Task.Delay(1000));
        if (env.Service.HasStarted(id))
            await AssertServerObservedCancellation(env, id, "the deadline");
        await AssertChannelStillWorks(env);
    });

    [Theory, AllPairs]
    public Task Deadline_LongEnough_Succeeds(Pair pair) => InteropHarness.RunAsync(pair, async env =>
    {
        var reply = await env.Client.UnaryAsync(new EchoRequest { Text = "in time", DelayMs = 50 }, deadline: DateTime.UtcNow.AddSeconds(20));
        Assert.Equal("in time", reply.Text);
        Assert.Equal(0, env.Service.Cancellations);
    });

    [Theory, AllPairs]
    public Task Cancel_Unary(Pair pair) => InteropHarness.RunAsync(pair, async env =>
    {
        var (id, headers) = InteropHarness.NewCall();
        using var cts = new CancellationTokenSource();
        env.Step("starting a unary call that waits 5 s");
        using var call = env.Client.UnaryAsync(new EchoRequest { DelayMs = 5000 }, headers, cancellationToken: cts.Token);
        await WaitForHandlerStart(env, id);

        env.Step("cancelling");
        cts.Cancel();
        var error = await Assert.ThrowsAsync<RpcException>(() => call.ResponseAsync);
        Assert.Equal(StatusCode.Cancelled, error.StatusCode);
        await AssertServerObservedCancellation(env, id, "the client's cancellation");
        await AssertChannelStillWorks(env);
    });

    [Theory, AllPairs]
    public Task Cancel_MidServerStream(Pair pair) => InteropHarness.RunAsync(pair, async env =>
    {
        var (id, headers) = InteropHarness.NewCall();
        using var cts = new CancellationTokenSource();
        using var call = env.Client.ServerStream(new StreamRequest { Count = 1_000_000, PayloadSize = 64, DelayMs = 2 }, headers, cancellationToken: cts.Token);

        env.Step("reading the first 20 messages");
        for (var i = 0; i < 20; i++)
        {
            Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None));
            Assert.Equal(i, call.ResponseStream.Current.Sequence);
        }
        env.Step("cancelling");
        cts.Cancel();

        // Messages already buffered may still be handed out, but the stream must end in CANCELLED, not run on.
        env.Step("reading until CANCELLED");
        var error = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            for (var extra = 0; await call.ResponseStream.MoveNext(CancellationToken.None); extra++)
                Assert.True(extra < 1000, "the stream kept delivering after the call was cancelled");
        });
        Assert.Equal(StatusCode.Cancelled, error.StatusCode);
        await AssertServerObservedCancellation(env, id, "the client's cancellation");
        await AssertChannelStillWorks(env);
        if (env.Connections is { } connections)
            Assert.Equal(1, connections);
    });

    [Theory, AllPairs]
    public Task Cancel_ClientDisposesStreamingCall(Pair pair) => InteropHarness.RunAsync(pair, async env =>
    {
        // Disposing a call before it ends is how generated code abandons a stream: the server must hear of it.
        var (id, headers) = InteropHarness.NewCall();
        var call = env.Client.ServerStream(new StreamRequest { Count = 1_000_000, PayloadSize = 16, DelayMs = 2 }, headers);
        env.Step("reading the first message");
        Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None));
        env.Step("disposing the call");
        call.Dispose();

        await AssertServerObservedCancellation(env, id, "the disposed call");
        await AssertChannelStillWorks(env);
    });
}
