using System.Diagnostics;
using Grpc.Core;
using MetaGpu.Control.Identity;
using MetaGpu.Control.Service;
using MetaGpu.Control.V1;
using MetaGpu.Primitives;
using MetaGpu.Rpc.Grpc;
using MetaGpu.Tests.Support;
using MetaGpu.Usage.Enforcement;
using MetaGpu.Usage.Proc;
using MetaGpu.Usage.Workload;
using Microsoft.Extensions.Logging.Abstractions;

namespace MetaGpu.Tests.Control.Service;

/// <summary>
/// The control service on a real socket with the kernel's credentials: calls from this process (the node's mount
/// namespace, as root: node scope), from another process that connected (its pid, not ours, is the caller), and
/// from a connection whose connecting process has exited (nothing is answered).
/// </summary>
public sealed class ControlServiceTests : IAsyncDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("mg-control-");
    private readonly VersionedSnapshot<WorkloadView> _view = new(WorkloadView.Empty);
    private readonly GrpcServer _server;
    private readonly string _socket;

    public ControlServiceTests()
    {
        var proc = new ProcFs("/proc");
        var resolver = new CallerResolver(proc, proc.LocateOwnStateDir(_dir.FullName), 0);
        var answers = new ScopedAnswers(_ => null, (pid, started) => proc.StartTime(pid) == started ? proc.NsPids(pid) : null);
        var service = new ControlService(_view, resolver, answers, new PidfdSignaller("/proc").Signal, "node-1", "9.9.9", NullLogger.Instance);
        _server = new GrpcServer(new GrpcServerOptions { ReadPeerCredentials = true }).AddService(MetaGpu.Control.V1.Control.BindService(service));
        _socket = Path.Combine(_dir.FullName, "control.sock");
        _server.ListenUnix(_socket);
    }

    public async ValueTask DisposeAsync()
    {
        await _server.DisposeAsync();
        _dir.Delete(recursive: true);
    }

    private static MetaGpu.Control.V1.Control.ControlClient Client(string socket, out UnixChannel channel)
    {
        channel = new UnixChannel(socket);
        return new MetaGpu.Control.V1.Control.ControlClient(channel);
    }

    private static CallOptions Soon => new(deadline: DateTime.UtcNow.AddSeconds(20));

    [Fact]
    public async Task ThisProcessIsTheNodesRootAndSeesItsOwnPid()
    {
        var client = Client(_socket, out var channel);
        using (channel)
        {
            var info = await client.InfoAsync(new InfoRequest(), Soon);
            Assert.Equal(ScopeKind.Node, info.Scope.Kind);
            Assert.Equal(Environment.ProcessId, info.Scope.CallerPid);
            Assert.Equal(("node-1", "9.9.9"), (info.Node, info.Version));
            Assert.Equal("9.9.9", (await client.PingAsync(new PingRequest(), Soon)).Version);
        }
    }

    /// <summary>The kernel names the process that connected: through a relay, the relay's pid is the caller, not ours.</summary>
    [Fact]
    public async Task TheCallerIsTheProcessThatConnected()
    {
        await using var relay = await Relay.StartAsync(_socket, Path.Combine(_dir.FullName, "relay.sock"), orphan: false);
        var client = Client(relay.Socket, out var channel);
        using (channel)
        {
            var info = await client.InfoAsync(new InfoRequest(), Soon);
            Assert.Equal(relay.ConnectedPid, info.Scope.CallerPid);
            Assert.NotEqual(Environment.ProcessId, info.Scope.CallerPid);
        }
    }

    /// <summary>A connection outliving the process that made it (handed to a child) gets no answer about anyone.</summary>
    [Fact]
    public async Task AConnectionWhoseCallerExitedGetsNoAnswer()
    {
        var gpu = new GpuUsage(0, "GPU-0", "NVIDIA A16", 16UL << 30, 1UL << 30, 15UL << 30, 10, []);
        _view.Publish(new WorkloadView(0, DateTimeOffset.UtcNow, [gpu], [], [Process(Environment.ProcessId, "GPU-0")], true));
        await using var relay = await Relay.StartAsync(_socket, Path.Combine(_dir.FullName, "relay.sock"), orphan: true);
        await relay.ConnectorExited();
        var client = Client(relay.Socket, out var channel);
        using (channel)
        {
            var e = await Assert.ThrowsAsync<RpcException>(async () => await client.ListContainersAsync(new ListContainersRequest(), Soon));
            Assert.Equal(StatusCode.PermissionDenied, e.StatusCode);
            Assert.Contains("exited", e.Status.Detail, StringComparison.Ordinal);
            var d = await Assert.ThrowsAsync<RpcException>(async () => await client.ListDevicesAsync(new ListDevicesRequest(), Soon));
            Assert.Equal(StatusCode.PermissionDenied, d.StatusCode);
        }
    }

    [Fact]
    public async Task KillSignalsTheGpuProcessOnceAndRefusesWhatIsNotOne()
    {
        using var sleeper = System.Diagnostics.Process.Start(new ProcessStartInfo("sleep", "600") { UseShellExecute = false })!;
        try
        {
            // Until the child has exec'd, its /proc shows the forking parent.
            var until = DateTime.UtcNow.AddSeconds(20);
            while (!new ProcFs("/proc").CommandLine(sleeper.Id).StartsWith("sleep", StringComparison.Ordinal) && DateTime.UtcNow < until)
                await Task.Delay(10);
            var gpu = new GpuUsage(0, "GPU-0", "NVIDIA A16", 16UL << 30, 1UL << 30, 15UL << 30, 10, []);
            _view.Publish(new WorkloadView(0, DateTimeOffset.UtcNow, [gpu], [], [Process(sleeper.Id, "GPU-0")], true));
            var client = Client(_socket, out var channel);
            using (channel)
            {
                var bad = await Assert.ThrowsAsync<RpcException>(async () => await client.KillProcessAsync(new KillProcessRequest { Pid = sleeper.Id, Signal = 3 }, Soon));
                Assert.Equal(StatusCode.InvalidArgument, bad.StatusCode);
                var unknown = await Assert.ThrowsAsync<RpcException>(async () => await client.KillProcessAsync(new KillProcessRequest { Pid = Environment.ProcessId }, Soon));
                Assert.Equal(StatusCode.NotFound, unknown.StatusCode);
                Assert.False(sleeper.HasExited);

                var killed = await client.KillProcessAsync(new KillProcessRequest { Pid = sleeper.Id }, Soon);

                Assert.Equal((sleeper.Id, 15), (killed.Pid, killed.Signal));
                Assert.Contains("sleep 600", killed.Command, StringComparison.Ordinal);
                Assert.True(sleeper.WaitForExit(20_000));
                Assert.Equal(128 + 15, sleeper.ExitCode);
                var again = await Assert.ThrowsAsync<RpcException>(async () => await client.KillProcessAsync(new KillProcessRequest { Pid = sleeper.Id, Signal = 9 }, Soon));
                Assert.Equal(StatusCode.NotFound, again.StatusCode);
                Assert.Contains("exited", again.Status.Detail, StringComparison.Ordinal);
            }
        }
        finally
        {
            if (!sleeper.HasExited)
                sleeper.Kill();
        }
    }

    /// <summary>One message at once, one per change the caller can see, none for a refresh that changed nothing for it.</summary>
    [Fact]
    public async Task AWatchSendsOneMessagePerChange()
    {
        var gpu = new GpuUsage(0, "GPU-0", "NVIDIA A16", 16UL << 30, 1UL << 30, 15UL << 30, 10, []);
        var first = new WorkloadView(0, DateTimeOffset.UtcNow, [gpu], [], [Process(4001, "GPU-0")], true);
        _view.Publish(first);
        var client = Client(_socket, out var channel);
        using (channel)
        {
            using var watch = client.WatchContainers(new ListContainersRequest(), new CallOptions(deadline: DateTime.UtcNow.AddSeconds(60)));
            var stream = watch.ResponseStream;
            Assert.True(await stream.MoveNext(CancellationToken.None));
            Assert.Equal([4001], stream.Current.Unallocated.Select(p => p.Pid));

            // The same processes at a later refresh: no message. Then a new process: one.
            _view.Publish(first with { Taken = DateTimeOffset.UtcNow.AddSeconds(1) });
            await Task.Delay(300);
            _view.Publish(first with { Unallocated = [Process(4001, "GPU-0"), Process(4002, "GPU-0")] });

            Assert.True(await stream.MoveNext(CancellationToken.None));
            Assert.Equal([4001, 4002], stream.Current.Unallocated.Select(p => p.Pid));
        }
    }

    /// <summary>A peer that opens watch after watch gets RESOURCE_EXHAUSTED past the cap, and a closed watch makes room again.</summary>
    [Fact]
    public async Task WatchesAreCappedAndAClosedOneMakesRoom()
    {
        var client = Client(_socket, out var channel);
        using (channel)
        {
            var open = new List<AsyncServerStreamingCall<ListContainersResponse>>();
            try
            {
                for (var i = 0; i < ControlService.MaxWatches; i++)
                {
                    var watch = client.WatchContainers(new ListContainersRequest());
                    open.Add(watch);
                    Assert.True(await watch.ResponseStream.MoveNext(CancellationToken.None));
                }
                using var refused = client.WatchContainers(new ListContainersRequest());
                var e = await Assert.ThrowsAsync<RpcException>(() => refused.ResponseStream.MoveNext(CancellationToken.None));
                Assert.Equal(StatusCode.ResourceExhausted, e.StatusCode);

                open[0].Dispose();
                open.RemoveAt(0);
                var until = DateTime.UtcNow.AddSeconds(20);
                while (true)
                {
                    using var again = client.WatchContainers(new ListContainersRequest());
                    try
                    {
                        Assert.True(await again.ResponseStream.MoveNext(CancellationToken.None));
                        break;
                    }
                    catch (RpcException r) when (r.StatusCode == StatusCode.ResourceExhausted && DateTime.UtcNow < until)
                    {
                        await Task.Delay(50); // the cancelled watch's handler is still ending
                    }
                }
            }
            finally
            {
                foreach (var w in open)
                    w.Dispose();
            }
        }
    }

    private static GpuProcessUsage Process(int pid, string gpu) =>
        new(pid, gpu, 0, new ProcFs("/proc").CommandLine(pid), 512UL << 20, 5, null, null, new ProcFs("/proc").StartTime(pid) ?? 1, null, true);

    /// <summary>relay.c (beside this file), built once per source version.</summary>
    private sealed class Relay : IAsyncDisposable
    {
        private static readonly Lazy<string> Binary =
            new(() => CProgram.Build(Path.Combine("tests", "Control", "Service", "relay.c"), "relay", "-O2", "-Wall", "-Wextra", "-Werror"));

        private readonly System.Diagnostics.Process _process;

        private Relay(System.Diagnostics.Process process, string socket, int pid)
        {
            _process = process;
            Socket = socket;
            ConnectedPid = pid;
        }

        public string Socket { get; }
        public int ConnectedPid { get; }

        public static async Task<Relay> StartAsync(string control, string socket, bool orphan)
        {
            var process = System.Diagnostics.Process.Start(new ProcessStartInfo(Binary.Value, [control, socket, orphan ? "orphan" : "stay"])
            {
                RedirectStandardInput = true, RedirectStandardOutput = true, UseShellExecute = false,
            })!;
            var line = await process.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(20)) ?? throw new IOException("relay said nothing");
            return new Relay(process, socket, int.Parse(line["connected ".Length..]));
        }

        public async Task ConnectorExited() => await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(20));

        public async ValueTask DisposeAsync()
        {
            if (!_process.HasExited)
            {
                _process.StandardInput.Close();
                await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(20));
            }
            _process.Dispose();
            // An orphaned child ends when its connection does.
        }
    }
}
