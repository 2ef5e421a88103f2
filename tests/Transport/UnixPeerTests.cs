using System.Net.Sockets;
using Grpc.Core;
using MetaGpu.Rpc.Grpc;

namespace MetaGpu.Tests.Transport;

/// <summary>The kernel's word on who is at the other end of a Unix socket, as the server hands it to a call.</summary>
public sealed class UnixPeerTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("mg-peer-");

    public void Dispose() => _dir.Delete(recursive: true);

    [Fact]
    public async Task APeerIsTheConnectingProcessWithAPidfdThatSeesItRun()
    {
        var path = Path.Combine(_dir.FullName, "s.sock");
        using var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(new UnixDomainSocketEndPoint(path));
        listener.Listen();
        using var client = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        await client.ConnectAsync(new UnixDomainSocketEndPoint(path));
        using var accepted = await listener.AcceptAsync();

        using var peer = UnixPeer.Read(accepted);

        Assert.NotNull(peer);
        Assert.Equal(Environment.ProcessId, peer.Pid);
        Assert.Equal(File.ReadAllLines("/proc/self/status").Single(l => l.StartsWith("Uid:", StringComparison.Ordinal)).Split('\t')[2], peer.Uid.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.True(peer.HasPidfd);
        Assert.True(peer.IsAlive());
        peer.Dispose();
        Assert.False(peer.IsAlive() ?? false);
    }

    [Fact]
    public void ASocketThatIsNotUnixHasNoPeer()
    {
        using var tcp = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        Assert.Null(UnixPeer.Read(tcp));
    }

    /// <summary>The server reads credentials only when asked: the device plugin's sockets hold no pidfd per connection.</summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task TheServerGivesACallItsPeerOnlyWhenAsked(bool read)
    {
        var method = new Method<byte[], byte[]>(MethodType.Unary, "test.Peer", "Who", RawServiceFixture.Bytes, RawServiceFixture.Bytes);
        var path = Path.Combine(_dir.FullName, $"who-{read}.sock");
        await using var server = new GrpcServer(new GrpcServerOptions { ReadPeerCredentials = read }).AddService(binder =>
            binder.AddMethod(method, (UnaryServerMethod<byte[], byte[]>)((_, context) =>
                Task.FromResult(System.Text.Encoding.ASCII.GetBytes(GrpcServer.UnixPeerOf(context) is { } p ? $"{p.Pid} {p.IsAlive()}" : "none")))));
        server.ListenUnix(path);
        using var channel = new UnixChannel(path);

        var answer = await channel.CreateCallInvoker().AsyncUnaryCall(method, null, new CallOptions(deadline: DateTime.UtcNow.AddSeconds(20)), []);

        Assert.Equal(read ? $"{Environment.ProcessId} True" : "none", System.Text.Encoding.ASCII.GetString(answer));
    }
}
