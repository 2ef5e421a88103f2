using System.Diagnostics;
using System.Net.Sockets;
using Grpc.Core;
using MetaGpu.Proto.PodResources.V1;
using MetaGpu.Tests.Support;
using MetaGpu.Usage.PodResources;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Logging;

namespace MetaGpu.Tests.Usage.PodResources;

/// <summary>The pod-resources client against a stand-in kubelet (Kestrel + Grpc.AspNetCore) and against broken peers.</summary>
public sealed class PodResourcesClientTests : IDisposable
{
    private const string Share = "metagpu.io/gpu-share";
    private readonly string _socket = Path.Combine(Path.GetTempPath(), "mg-pr-" + Guid.NewGuid().ToString("N")[..10] + ".sock");
    private readonly RecordingLogger _log = new();
    private readonly ManualTime _time = new();

    public void Dispose() => File.Delete(_socket);

    private PodResourcesClient Client(TimeSpan? callTimeout = null) =>
        new(_socket, _log, _time) { CallTimeout = callTimeout ?? TimeSpan.FromSeconds(20) };

    private static readonly PodEntry[] TwoPods =
    [
        new("team-a", "trainer", new ContainerEntry("main", new DeviceEntry(Share, "g0-m1", "g0-m0")), new ContainerEntry("sidecar")),
        new("team-b", "infer", new ContainerEntry("main", new DeviceEntry(Share, "g1-m4"), new DeviceEntry("nvidia.com/mig", "MIG-1"))),
    ];

    private static string Describe(PodResourcesSnapshot s) =>
        string.Join(" | ", s.Containers.Select(c => $"{c.Namespace}/{c.Pod}/{c.Container}:" +
            string.Join(";", c.Devices.Select(d => d.Resource + "=" + string.Join(",", d.DeviceIds)))));

    [Fact]
    public async Task NamesPodsContainersAndDevicesOnOneConnection()
    {
        await using var kubelet = await StandInPodResources.StartAsync(_socket, TwoPods);
        using var client = Client();

        for (var i = 1; i <= 5; i++)
        {
            var snapshot = await client.ListAsync(CancellationToken.None);
            Assert.True(snapshot.Available);
            Assert.True(snapshot.Fresh);
            Assert.Equal("team-a/trainer/main:metagpu.io/gpu-share=g0-m0,g0-m1 | team-b/infer/main:metagpu.io/gpu-share=g1-m4;nvidia.com/mig=MIG-1",
                Describe(snapshot));
            Assert.Equal(i, kubelet.Calls); // exactly one List per ListAsync
        }
        Assert.Equal(5, client.ListCalls);
        Assert.Equal(1, kubelet.Connections);

        kubelet.SetPods(new PodEntry("team-c", "new", new ContainerEntry("c", new DeviceEntry(Share, "g2-m0"))));
        Assert.Equal("team-c/new/c:metagpu.io/gpu-share=g2-m0", Describe(await client.ListAsync(CancellationToken.None)));
        Assert.Empty(_log.At(LogLevel.Warning));
    }

    [Fact]
    public async Task NewerKubeletAnswerWithUnknownFieldsIsRead()
    {
        await using var kubelet = await StandInPodResources.StartAsync(_socket);
        // Parsed by our own (older) types, the newer fields ride along as unknown fields and go back on the wire.
        var newer = MetaGpu.Tests.Kubelet.PodResources.V1.ListPodResourcesResponse.Parser.ParseFrom(PodResourcesMappingTests.NewerKubeletAnswer());
        kubelet.SetAnswer(newer);
        using var client = Client();

        var snapshot = await client.ListAsync(CancellationToken.None);

        Assert.True(snapshot.Fresh);
        Assert.Equal("ns1/pod1/ctr1:metagpu.io/gpu-share=g0-m0,g0-m1", Describe(snapshot));
    }

    [Fact]
    public async Task AbsentSocketIsLoggedOnceAndRecoveryOnce()
    {
        using var client = Client();

        for (var i = 0; i < 3; i++)
        {
            var none = await client.ListAsync(CancellationToken.None);
            Assert.False(none.Available);
            Assert.False(none.Fresh);
            Assert.Empty(none.Containers);
        }
        var warning = Assert.Single(_log.At(LogLevel.Warning));
        Assert.Contains(_socket, warning);
        Assert.Contains("pod=\"\"", warning);
        Assert.Contains("/var/lib/kubelet/pod-resources", warning);
        Assert.Contains("--pod-resources-socket", warning);

        await using var kubelet = await StandInPodResources.StartAsync(_socket, TwoPods);
        for (var i = 0; i < 3; i++)
        {
            var named = await client.ListAsync(CancellationToken.None);
            Assert.True(named.Available && named.Fresh);
            Assert.Equal(2, named.Containers.Count);
        }
        var info = Assert.Single(_log.At(LogLevel.Information));
        Assert.Contains(_socket, info);
        Assert.Single(_log.At(LogLevel.Warning));
    }

    [Fact]
    public async Task SocketThatRefusesConnectionsIsUnavailableAndSaysSo()
    {
        // A socket file nobody listens on any more: what a crashed kubelet leaves behind.
        // (bound, never listening: disposing it would remove the file).
        using var dead = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        dead.Bind(new UnixDomainSocketEndPoint(_socket));
        Assert.True(File.Exists(_socket));
        using var client = Client();

        for (var i = 0; i < 3; i++)
            Assert.Same(PodResourcesSnapshot.Unavailable, await client.ListAsync(CancellationToken.None));

        var warning = Assert.Single(_log.At(LogLevel.Warning));
        Assert.Contains($"cannot connect to {_socket} (Connection refused", warning);
        Assert.Contains("ConnectionRefused", warning);
        Assert.Contains("pod=\"\"", warning);
    }

    [Fact]
    public async Task KubeletRestartOnTheSamePathIsFollowed()
    {
        await using var kubelet = await StandInPodResources.StartAsync(_socket, TwoPods);
        using var client = Client();
        Assert.True((await client.ListAsync(CancellationToken.None)).Fresh);

        // Gone: nobody can be named (the old answer is not kept for a kubelet that is not there).
        await kubelet.StopAsync();
        Assert.Same(PodResourcesSnapshot.Unavailable, await PollAsync(client, s => !s.Available));

        kubelet.SetPods(new PodEntry("team-c", "after", new ContainerEntry("c", new DeviceEntry(Share, "g3-m3"))));
        await kubelet.StartAgainAsync();
        var back = await PollAsync(client, s => s.Fresh);
        Assert.Equal("team-c/after/c:metagpu.io/gpu-share=g3-m3", Describe(back));
        Assert.Equal(2, kubelet.Connections);

        // A restart with no call in between: the client notices the closed connection and opens a new one.
        kubelet.SetPods(TwoPods);
        await kubelet.RestartAsync();
        var again = await PollAsync(client, s => s.Fresh);
        Assert.Equal(2, again.Containers.Count);
        Assert.Equal(3, kubelet.Connections);
    }

    [Fact]
    public async Task RateLimitBacksOffWithoutCallingAndKeepsTheLastAnswerStale()
    {
        await using var kubelet = await StandInPodResources.StartAsync(_socket, TwoPods);
        using var client = Client();
        var good = await client.ListAsync(CancellationToken.None);
        Assert.True(good.Fresh);

        kubelet.FailNext(StatusCode.ResourceExhausted, times: 3);
        await ExpectStale(client, good, calls: 2);            // refused: wait 1 s
        await ExpectStale(client, good, calls: 2);            // inside the wait: no call at all
        _time.Advance(TimeSpan.FromMilliseconds(900));
        await ExpectStale(client, good, calls: 2);
        _time.Advance(TimeSpan.FromMilliseconds(200));
        await ExpectStale(client, good, calls: 3);            // refused again: wait 2 s
        _time.Advance(TimeSpan.FromSeconds(1.5));
        await ExpectStale(client, good, calls: 3);
        _time.Advance(TimeSpan.FromSeconds(0.6));
        await ExpectStale(client, good, calls: 4);            // refused a third time: wait 4 s
        _time.Advance(TimeSpan.FromSeconds(3.9));
        await ExpectStale(client, good, calls: 4);
        _time.Advance(TimeSpan.FromSeconds(0.2));
        var fresh = await client.ListAsync(CancellationToken.None);
        Assert.True(fresh.Fresh);
        Assert.Equal(5, kubelet.Calls);

        // An answer resets the back-off to 1 s.
        kubelet.FailNext(StatusCode.ResourceExhausted, times: 1);
        await ExpectStale(client, fresh, calls: 6);
        _time.Advance(TimeSpan.FromSeconds(1.1));
        Assert.True((await client.ListAsync(CancellationToken.None)).Fresh);
        Assert.Equal(7, kubelet.Calls);

        var warnings = _log.At(LogLevel.Warning);
        Assert.Equal(2, warnings.Count); // one per episode, not one per refusal
        Assert.All(warnings, w => Assert.Contains("ResourceExhausted: rejected by rate limit", w));
        Assert.Contains("next List in 1 s", warnings[0]);
        Assert.Equal(2, _log.At(LogLevel.Information).Count(l => l.Contains("works again")));

        async Task ExpectStale(PodResourcesClient c, PodResourcesSnapshot last, int calls)
        {
            var s = await c.ListAsync(CancellationToken.None);
            Assert.True(s.Available);
            Assert.False(s.Fresh);
            Assert.Same(last.Containers, s.Containers);
            Assert.Equal(calls, kubelet.Calls);
        }
    }

    [Fact]
    public void BackoffDoublesToThirtySeconds()
    {
        var backoff = new ListBackoff();
        var now = DateTimeOffset.UnixEpoch;
        Assert.Equal([1, 2, 4, 8, 16, 30, 30], Enumerable.Range(0, 7).Select(_ => backoff.Fail(now).TotalSeconds));
        Assert.True(backoff.IsWaiting(now + TimeSpan.FromSeconds(29.9)));
        Assert.False(backoff.IsWaiting(now + TimeSpan.FromSeconds(30)));
        backoff.Reset();
        Assert.False(backoff.IsWaiting(now));
        Assert.Equal(1, backoff.Fail(now).TotalSeconds);
    }

    [Fact]
    public async Task HungKubeletMeetsTheDeadlineAndIsBackedOff()
    {
        await using var kubelet = await StandInPodResources.StartAsync(_socket, TwoPods);
        using var client = Client(TimeSpan.FromSeconds(1));
        var good = await client.ListAsync(CancellationToken.None);

        kubelet.HangNext();
        var watch = Stopwatch.StartNew();
        var stale = await client.ListAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30));
        Assert.True(watch.Elapsed >= TimeSpan.FromSeconds(0.9), $"gave up after {watch.Elapsed}");
        Assert.True(stale.Available);
        Assert.False(stale.Fresh);
        Assert.Same(good.Containers, stale.Containers);
        var warning = Assert.Single(_log.At(LogLevel.Warning));
        Assert.Contains("DeadlineExceeded: no answer within 1 s", warning);
        Assert.Contains(_socket, warning);

        // A kubelet that did not answer in time is not asked again at once.
        Assert.False((await client.ListAsync(CancellationToken.None)).Fresh);
        Assert.Equal(2, kubelet.Calls);
        _time.Advance(TimeSpan.FromSeconds(1.1));
        Assert.True((await client.ListAsync(CancellationToken.None)).Fresh);
        Assert.Equal(3, kubelet.Calls);
        Assert.Equal(1, kubelet.Connections); // the deadline reset the stream, not the connection
    }

    [Fact]
    public async Task OtherFailuresKeepTheLastAnswerAndAreLoggedOncePerKind()
    {
        await using var kubelet = await StandInPodResources.StartAsync(_socket, TwoPods);
        using var client = Client();
        var good = await client.ListAsync(CancellationToken.None);

        kubelet.FailNext(StatusCode.Unavailable, times: 3);
        for (var i = 0; i < 3; i++)
        {
            var s = await client.ListAsync(CancellationToken.None); // no back-off for these: asked every time
            Assert.True(s.Available && !s.Fresh);
            Assert.Same(good.Containers, s.Containers);
        }
        kubelet.FailNext(StatusCode.Internal, times: 2);
        await client.ListAsync(CancellationToken.None);
        await client.ListAsync(CancellationToken.None);
        Assert.Equal(6, kubelet.Calls);

        var warnings = _log.At(LogLevel.Warning);
        Assert.Equal(2, warnings.Count);
        Assert.Contains("Unavailable: stand-in failure Unavailable", warnings[0]);
        Assert.Contains("Internal: stand-in failure Internal", warnings[1]);
        Assert.All(warnings, w => Assert.Contains("keeping the last answer", w));
    }

    [Fact]
    public async Task FirstFailureWithoutAnyAnswerIsNotAvailable()
    {
        await using var kubelet = await StandInPodResources.StartAsync(_socket, TwoPods);
        kubelet.FailNext(StatusCode.PermissionDenied, detail: "no\r\nway " + new string('x', 5000));
        using var client = Client();

        Assert.Same(PodResourcesSnapshot.Unavailable, await client.ListAsync(CancellationToken.None));

        var warning = Assert.Single(_log.At(LogLevel.Warning));
        Assert.Contains("PermissionDenied: no??way xxx", warning);
        Assert.Contains("pod=\"\"", warning);
        Assert.True(warning.Length < 600, $"the peer's long message is echoed: {warning.Length} chars");
        Assert.True((await client.ListAsync(CancellationToken.None)).Fresh);
    }

    [Fact]
    public async Task AnswersUpToTheLimitAreReadLargerOnesRefused()
    {
        await using var kubelet = await StandInPodResources.StartAsync(_socket);
        // 8 MiB: twice the usual gRPC default, still accepted.
        var big = Enumerable.Range(0, 16_000)
            .Select(i => new PodEntry("ns", $"pod-{i}", new ContainerEntry("c", new DeviceEntry(Share, $"g0-m{i}-" + new string('d', 500)))))
            .ToArray();
        kubelet.SetPods(big);
        using var client = Client();
        var read = await client.ListAsync(CancellationToken.None);
        Assert.True(read.Fresh);
        Assert.Equal(16_000, read.Containers.Count);

        var huge = Enumerable.Range(0, 32_000)
            .Select(i => new PodEntry("ns", $"pod-{i}", new ContainerEntry("c", new DeviceEntry(Share, $"g0-m{i}-" + new string('d', 500)))))
            .ToArray();
        kubelet.SetPods(huge);
        var refused = await client.ListAsync(CancellationToken.None);
        Assert.False(refused.Fresh);
        Assert.Same(read.Containers, refused.Containers);
        var warning = Assert.Single(_log.At(LogLevel.Warning));
        Assert.Contains("ResourceExhausted", warning);
        Assert.Contains($"exceeds the limit of {PodResourcesClient.MaxAnswerBytes} bytes", warning);
        // Backed off like the rate limit: reading 16 MiB every second would be the daemon's own flood.
        await client.ListAsync(CancellationToken.None);
        Assert.Equal(2, kubelet.Calls);
    }

    [Fact]
    public async Task GarbageOnTheSocketIsLoggedNotThrown()
    {
        using var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(new UnixDomainSocketEndPoint(_socket));
        listener.Listen(16);
        using var stop = new CancellationTokenSource();
        var accepted = 0;
        var serve = Task.Run(async () =>
        {
            var junk = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"u8.ToArray().Concat(Enumerable.Range(0, 4000).Select(i => (byte)(i * 7919))).ToArray();
            while (!stop.IsCancellationRequested)
            {
                Socket peer;
                try
                {
                    peer = await listener.AcceptAsync(stop.Token);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
                Interlocked.Increment(ref accepted);
                try
                {
                    await peer.SendAsync(junk, SocketFlags.None);
                }
                catch (SocketException)
                {
                }
                peer.Dispose();
            }
        });
        using var client = Client();

        for (var i = 0; i < 3; i++)
        {
            var s = await client.ListAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30));
            Assert.False(s.Available);
            Assert.Empty(s.Containers);
        }

        Assert.True(Volatile.Read(ref accepted) >= 3, $"{accepted} connections: the client did not keep trying");
        var warning = Assert.Single(_log.At(LogLevel.Warning));
        Assert.Contains(_socket, warning);
        Assert.DoesNotContain("Bad Request", warning);
        stop.Cancel();
        await serve;
    }

    [Fact]
    public async Task AnswerThatIsNotProtobufIsLoggedNotThrown()
    {
        // A gRPC peer that frames bytes which are no protobuf message at all (a truncated varint tag).
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(o => o.ListenUnixSocket(_socket, l => l.Protocols = HttpProtocols.Http2));
        await using var app = builder.Build();
        var calls = 0;
        app.MapPost("/v1.PodResourcesLister/List", async context =>
        {
            Interlocked.Increment(ref calls);
            context.Response.ContentType = "application/grpc";
            await context.Response.Body.WriteAsync(new byte[] { 0, 0, 0, 0, 4, 0xFF, 0xFF, 0xFF, 0xFF });
            context.Response.AppendTrailer("grpc-status", "0");
        });
        await app.StartAsync();
        using var client = Client();

        for (var i = 0; i < 3; i++)
            Assert.Same(PodResourcesSnapshot.Unavailable, await client.ListAsync(CancellationToken.None));

        Assert.Equal(3, Volatile.Read(ref calls));
        var warning = Assert.Single(_log.At(LogLevel.Warning));
        Assert.Contains("Internal: failed to deserialize", warning);
        await app.StopAsync();
    }

    [Fact]
    public async Task CallersCancellationIsTheOnlyException()
    {
        await using var kubelet = await StandInPodResources.StartAsync(_socket, TwoPods);
        kubelet.HangNext();
        using var client = Client(TimeSpan.FromSeconds(60));
        using var cancel = new CancellationTokenSource();

        var call = client.ListAsync(cancel.Token);
        await WaitUntil(() => kubelet.Calls == 1); // cancel while the kubelet holds the call, not while connecting
        cancel.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => call).WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Empty(_log.At(LogLevel.Warning));
        Assert.True((await client.ListAsync(CancellationToken.None)).Fresh); // not backed off, not broken
    }

    [Fact]
    public async Task WhatAGoneKubeletSaidIsNotKeptThroughLaterFailures()
    {
        await using var kubelet = await StandInPodResources.StartAsync(_socket, TwoPods);
        using var client = Client();
        Assert.True((await client.ListAsync(CancellationToken.None)).Fresh);
        await kubelet.StopAsync();
        await PollAsync(client, s => !s.Available);

        // A new kubelet that cannot answer yet: the pods of the old one may be gone, so nobody is named.
        kubelet.FailNext(StatusCode.Unavailable, times: 1);
        await kubelet.StartAgainAsync();
        Assert.Same(PodResourcesSnapshot.Unavailable, await client.ListAsync(CancellationToken.None));
        Assert.Equal(2, kubelet.Calls);
        Assert.True((await client.ListAsync(CancellationToken.None)).Fresh);
    }

    private static async Task WaitUntil(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException("condition not reached within 20 s");
            await Task.Delay(10);
        }
    }

    /// <summary>Calls until <paramref name="condition"/> holds (a loaded machine may need a few tries), 20 s at most.</summary>
    private static async Task<PodResourcesSnapshot> PollAsync(PodResourcesClient client, Func<PodResourcesSnapshot, bool> condition)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (true)
        {
            var s = await client.ListAsync(CancellationToken.None);
            if (condition(s))
                return s;
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"snapshot never reached the condition; last: available={s.Available} fresh={s.Fresh} {s.Containers.Count} containers");
            await Task.Delay(50);
        }
    }
}
