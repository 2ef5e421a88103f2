using System.Net.Sockets;

namespace MetaGpu.Fuzz.Capture;

/// <summary>
/// A Unix-socket relay between a real client and our server that keeps every byte each side sent, per connection:
/// the captured traffic the corpora are seeded with.
/// </summary>
internal sealed class RecordingRelay : IAsyncDisposable
{
    private readonly Socket _listener = new(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
    private readonly string _serverPath;
    private readonly List<Task> _pumps = [];
    private readonly Task _acceptLoop;

    public RecordingRelay(string listenPath, string serverPath)
    {
        _serverPath = serverPath;
        _listener.Bind(new UnixDomainSocketEndPoint(listenPath));
        _listener.Listen(16);
        _acceptLoop = AcceptAsync();
    }

    public List<Recording> Connections { get; } = [];

    private async Task AcceptAsync()
    {
        while (true)
        {
            Socket client;
            try
            {
                client = await _listener.AcceptAsync().ConfigureAwait(false);
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
                return;
            }
            var server = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            await server.ConnectAsync(new UnixDomainSocketEndPoint(_serverPath)).ConfigureAwait(false);
            var recording = new Recording();
            lock (Connections)
            {
                Connections.Add(recording);
                _pumps.Add(Task.WhenAll(PumpAsync(client, server, recording.FromClient), PumpAsync(server, client, recording.FromServer))
                    .ContinueWith(_ => { client.Dispose(); server.Dispose(); }, TaskScheduler.Default));
            }
        }
    }

    private static async Task PumpAsync(Socket from, Socket to, MemoryStream record)
    {
        var buffer = new byte[16 * 1024];
        try
        {
            while (true)
            {
                var n = await from.ReceiveAsync(buffer, SocketFlags.None).ConfigureAwait(false);
                if (n == 0)
                    break;
                lock (record)
                    record.Write(buffer, 0, n);
                await to.SendAsync(buffer.AsMemory(0, n), SocketFlags.None).ConfigureAwait(false);
            }
            to.Shutdown(SocketShutdown.Send);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
        }
    }

    /// <summary>Waits (up to 5 s) for every relayed connection to close.</summary>
    public async Task DrainAsync()
    {
        Task[] pumps;
        lock (Connections)
            pumps = [.. _pumps];
        await Task.WhenAny(Task.WhenAll(pumps), Task.Delay(TimeSpan.FromSeconds(5))).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        _listener.Dispose();
        await _acceptLoop.ConfigureAwait(false);
    }

    public sealed class Recording
    {
        public MemoryStream FromClient { get; } = new();
        public MemoryStream FromServer { get; } = new();
    }
}
