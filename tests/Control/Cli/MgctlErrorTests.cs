using System.Net.Sockets;
using System.Runtime.InteropServices;
using Grpc.Core;

namespace MetaGpu.Tests.Control.Cli;

/// <summary>Every way a call can fail, its exit code, and a message that says what to do.</summary>
public sealed partial class MgctlErrorTests
{
    [LibraryImport("libc", EntryPoint = "link", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int Link(string existing, string created);

    private static string TempPath(string name) => Path.Combine(Path.GetTempPath(), $"mg-{name}-{Guid.NewGuid():N}"[..30]);

    [Fact]
    public async Task NoSocketAndNoDirectoryAsksWhetherThePodHasTheResource()
    {
        var socket = Path.Combine(TempPath("none"), "control.sock");
        var r = await MgctlRun.RunAsync(MgctlRun.Env(socket), "get", "processes");
        Assert.Equal(3, r.ExitCode);
        Assert.Equal("", r.Stdout);
        Assert.Equal($"mgctl: no MetaGPU socket at {socket}: is this a pod with a MetaGPU resource limit (cnvrg.io/metagpu by default)?\n", r.Stderr);
    }

    /// <summary>
    /// Without --socket or METAGPU_CTL_SOCKET, and with no /run/metagpu at all (root on the node, or kubectl exec into
    /// the MetaGPU pod, where the state directory is mounted at its own path), mgctl asks the node's socket.
    /// </summary>
    [Fact]
    public async Task OnTheNodeTheStateDirectorysSocketIsTheDefault()
    {
        await using var daemon = new StandInDaemon();
        daemon.Control.InfoReply = Scenarios.Info(Scenarios.NodeScope);
        var none = Path.Combine(TempPath("none"), "control.sock");
        var onNode = MgctlRun.Env(null) with { ContainerSocket = none, NodeSocket = daemon.SocketPath };

        var r = await MgctlRun.RunAsync(onNode, "ping");
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains(daemon.SocketPath, r.Stdout, StringComparison.Ordinal);

        // In a container (its /run/metagpu is there), the container's socket stays the one asked, even when it is missing.
        var dir = Directory.CreateTempSubdirectory("mg-ctl-run-").FullName;
        try
        {
            var inContainer = onNode with { ContainerSocket = Path.Combine(dir, "control.sock") };
            var c = await MgctlRun.RunAsync(inContainer, "ping");
            Assert.Equal(3, c.ExitCode);
            Assert.Contains(Path.Combine(dir, "control.sock"), c.Stderr, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public async Task NoSocketInItsDirectoryMeansTheDaemonIsDown()
    {
        var dir = Directory.CreateTempSubdirectory("mg-ctl-").FullName;
        try
        {
            var socket = Path.Combine(dir, "control.sock");
            var r = await MgctlRun.RunAsync(MgctlRun.Env(socket), "info");
            Assert.Equal(3, r.ExitCode);
            Assert.StartsWith($"mgctl: no MetaGPU socket at {socket}, though its directory is there: the daemon is not running", r.Stderr, StringComparison.Ordinal);
            Assert.Contains("metagpu DaemonSet pod on this node", r.Stderr, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public async Task ASocketNobodyListensOnSaysTheDaemonIsNotAnswering()
    {
        var dir = Directory.CreateTempSubdirectory("mg-ctl-").FullName;
        try
        {
            // A socket file left by a daemon that is gone. .NET removes the file of a socket it bound when it closes
            // it, so a second name (a hard link) keeps it, as a killed daemon leaves its socket behind.
            var socket = Path.Combine(dir, "control.sock");
            var bound = Path.Combine(dir, "bound.sock");
            using (var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified))
            {
                s.Bind(new UnixDomainSocketEndPoint(bound));
                Assert.True(Link(bound, socket) == 0, $"link: errno {Marshal.GetLastPInvokeError()}");
            }
            Assert.True(File.Exists(socket));
            var r = await MgctlRun.RunAsync(MgctlRun.Env(socket), "get", "devices");
            Assert.Equal(3, r.ExitCode);
            Assert.StartsWith($"mgctl: the MetaGPU daemon is not answering at {socket} (connection refused", r.Stderr, StringComparison.Ordinal);
            Assert.Contains("retry in a few seconds", r.Stderr, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Theory]
    [InlineData(StatusCode.PermissionDenied, 4, "mgctl: permission denied: pid 4242 is in no allocation of this node and not in the node's mount namespace\n")]
    [InlineData(StatusCode.NotFound, 1, "mgctl: pid 4242 is in no allocation of this node and not in the node's mount namespace\n")]
    [InlineData(StatusCode.InvalidArgument, 1, "mgctl: the daemon refused the request: pid 4242 is in no allocation of this node and not in the node's mount namespace\n")]
    [InlineData(StatusCode.Unavailable, 3, null)]
    [InlineData(StatusCode.DeadlineExceeded, 3, null)]
    [InlineData(StatusCode.Internal, 1, "mgctl: the daemon failed: pid 4242 is in no allocation of this node and not in the node's mount namespace (the metagpu pod's log on this node says more)\n")]
    [InlineData(StatusCode.Unimplemented, 1, null)]
    public async Task TheDaemonsRefusalsKeepItsReason(StatusCode code, int exit, string? message)
    {
        await using var daemon = new StandInDaemon();
        daemon.Control.Fail = code;
        daemon.Control.FailDetail = "pid 4242 is in no allocation of this node and not in the node's mount namespace";
        foreach (var args in new[] { new[] { "get", "processes" }, ["get", "devices"], ["info"], ["kill", "12"], ["ping"], ["get", "processes", "-w"] })
        {
            var r = await MgctlRun.RunAsync(daemon, args);
            Assert.True(exit == r.ExitCode, $"{string.Join(' ', args)}: {r}");
            Assert.Equal("", r.Stdout);
            if (message is not null)
                Assert.Equal(message, r.Stderr);
            else
                Assert.StartsWith("mgctl: ", r.Stderr, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task KillOfAPidNotFoundSaysWhy()
    {
        await using var daemon = new StandInDaemon();
        daemon.Control.Fail = StatusCode.NotFound;
        daemon.Control.FailDetail = "no GPU process with pid 77 in your allocation";
        var r = await MgctlRun.RunAsync(daemon, "kill", "77");
        Assert.Equal(1, r.ExitCode);
        Assert.Equal("mgctl: no GPU process with pid 77 in your allocation\n", r.Stderr);
    }

    [Fact]
    public async Task ADaemonThatDoesNotAnswerInTimeIsUnreachable()
    {
        await using var daemon = new StandInDaemon();
        daemon.Control.Hang = true;
        var watch = System.Diagnostics.Stopwatch.StartNew();
        var r = await MgctlRun.RunAsync(daemon, "get", "processes", "--timeout", "300ms");
        Assert.Equal(3, r.ExitCode);
        Assert.Equal("mgctl: the daemon did not answer within 300ms: it may be busy or restarting; retry, or allow more time with --timeout\n", r.Stderr);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(20), $"took {watch.Elapsed}");
    }

    [Fact]
    public async Task CtrlCDuringACallExits130Quietly()
    {
        await using var daemon = new StandInDaemon();
        daemon.Control.Hang = true;
        using var interrupt = new CancellationTokenSource();
        var run = MgctlRun.RunAsync(MgctlRun.Env(daemon.SocketPath, interrupt.Token), "get", "processes", "--timeout", "1m");
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (daemon.Control.Calls.IsEmpty && DateTime.UtcNow < deadline)
            await Task.Delay(20);
        interrupt.Cancel();
        var r = await run;
        Assert.Equal(130, r.ExitCode);
        Assert.Equal("", r.Stderr);
        Assert.Equal("", r.Stdout);
    }

    [Fact]
    public async Task ControlCharactersInTheDaemonsMessageAreNotPrinted()
    {
        await using var daemon = new StandInDaemon();
        daemon.Control.Fail = StatusCode.PermissionDenied;
        daemon.Control.FailDetail = "nope\u001b[2J" + new string('x', 2000);
        var r = await MgctlRun.RunAsync(daemon, "info");
        Assert.Equal(4, r.ExitCode);
        Assert.DoesNotContain('\u001b', r.Stderr);
        Assert.Contains("nope?[2J", r.Stderr, StringComparison.Ordinal);
        Assert.True(r.Stderr.Length < 700, r.Stderr.Length.ToString());
    }

    [Fact]
    public async Task VersionPrintsTheClientsEvenWithoutADaemon()
    {
        var socket = Path.Combine(TempPath("none"), "control.sock");
        var r = await MgctlRun.RunAsync(MgctlRun.Env(socket), "version");
        Assert.Equal(0, r.ExitCode);
        Assert.StartsWith("mgctl 0.1.0\ndaemon unknown: no MetaGPU socket at ", r.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TheSocketComesFromTheFlagThenTheVariableThenTheDefault()
    {
        await using var daemon = new StandInDaemon();
        Scenarios.AsAllocation(daemon.Control);
        var elsewhere = Path.Combine(TempPath("none"), "control.sock");

        // The variable alone.
        Assert.Equal(0, (await MgctlRun.RunAsync(MgctlRun.Env(daemon.SocketPath), "ping")).ExitCode);
        // The flag wins over the variable.
        var flag = await MgctlRun.RunAsync(MgctlRun.Env(elsewhere), "ping", "--socket", daemon.SocketPath);
        Assert.True(flag.ExitCode == 0, flag.ToString());
        var wrongFlag = await MgctlRun.RunAsync(MgctlRun.Env(daemon.SocketPath), "ping", "--socket=" + elsewhere);
        Assert.Equal(3, wrongFlag.ExitCode);
        Assert.Contains(elsewhere, wrongFlag.Stderr);
        // Neither: the default path, named in the message.
        var none = await MgctlRun.RunAsync(MgctlRun.Env(null), "ping");
        Assert.Equal(3, none.ExitCode);
        Assert.Contains("/run/metagpu/control.sock", none.Stderr, StringComparison.Ordinal);
        // An empty variable is no variable.
        Assert.Contains("/run/metagpu/control.sock", (await MgctlRun.RunAsync(MgctlRun.Env(""), "ping")).Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AnUnusableSocketVariableIsAUsageError()
    {
        var r = await MgctlRun.RunAsync(MgctlRun.Env("/run/" + new string('x', 200)), "ping");
        Assert.Equal(2, r.ExitCode);
        Assert.StartsWith("mgctl: METAGPU_CTL_SOCKET: the socket path is 205 bytes long", r.Stderr, StringComparison.Ordinal);
    }
}
