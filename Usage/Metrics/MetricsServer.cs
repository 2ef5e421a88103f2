using System.Buffers;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;

namespace MetaGpu.Usage.Metrics;

/// <summary>
/// The metrics endpoint: a small HTTP/1.1 responder over TCP, written for two paths. <c>GET /metrics</c> renders
/// the metrics text per scrape into a reused buffer; <c>GET /healthz</c> answers <c>ok</c> or 503. Every peer is
/// bounded (<see cref="MetricsServerLimits"/>): connections, head size, head/idle/write timeouts, no request bodies.
/// </summary>
public sealed class MetricsServer : IAsyncDisposable
{
    private readonly MetricsAddress _address;
    private readonly Action<IBufferWriter<byte>> _writeMetrics;
    private readonly Func<bool> _healthy;
    private readonly ILogger _log;
    private readonly ConcurrentDictionary<MetricsConnection, byte> _connections = new();
    private readonly Stack<ResponseBuffer> _buffers = new();
    private readonly CancellationTokenSource _stopping = new();
    private Socket? _listener;
    private Task _acceptLoop = Task.CompletedTask;
    private int _disposed;
    private long _lastRefusalLog = long.MinValue;
    private long _refusedSinceLog;

    public MetricsServer(MetricsAddress address, Action<IBufferWriter<byte>> writeMetrics, Func<bool> healthy, ILogger log)
        : this(address, writeMetrics, healthy, log, new MetricsServerLimits())
    {
    }

    internal MetricsServer(MetricsAddress address, Action<IBufferWriter<byte>> writeMetrics, Func<bool> healthy, ILogger log, MetricsServerLimits limits)
    {
        _address = address ?? throw new ArgumentNullException(nameof(address));
        _writeMetrics = writeMetrics ?? throw new ArgumentNullException(nameof(writeMetrics));
        _healthy = healthy ?? throw new ArgumentNullException(nameof(healthy));
        _log = log ?? throw new ArgumentNullException(nameof(log));
        Limits = limits;
    }

    internal MetricsServerLimits Limits { get; }

    /// <summary>The port listened on once started (the kernel's pick for port 0); 0 before, or when the address is <c>off</c>.</summary>
    public int BoundPort { get; private set; }

    /// <summary>Connections open now (tests, and a metric if wanted).</summary>
    internal int ConnectionCount => _connections.Count;

    internal ILogger Log => _log;

    internal CancellationToken Stopping => _stopping.Token;

    /// <summary>
    /// Binds and starts accepting; scrapes are answered as soon as it returns. Does nothing for <c>off</c>.
    /// </summary>
    /// <exception cref="IOException">The address cannot be bound; the message says why and what to change.</exception>
    public void Start()
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        if (!_address.Enabled)
            return;
        if (_listener is not null)
            throw new InvalidOperationException("the metrics server is already started");
        var listener = Bind();
        BoundPort = ((IPEndPoint)listener.LocalEndPoint!).Port;
        _listener = listener;
        _acceptLoop = AcceptLoopAsync(listener);
        _log.LogInformation("serving metrics on {Address} (port {Port}): GET /metrics, GET /healthz", _address, BoundPort);
    }

    private Socket Bind()
    {
        if (_address.Ip is not null)
            return BindTo(_address.Ip);
        if (Socket.OSSupportsIPv6)
        {
            try
            {
                return BindTo(IPAddress.IPv6Any, dualMode: true);
            }
            catch (IOException e) when (e.InnerException is SocketException { SocketErrorCode: SocketError.AddressNotAvailable or SocketError.AddressFamilyNotSupported or SocketError.ProtocolNotSupported })
            {
                // IPv6 disabled on this node (ipv6.disable=1 or net.ipv6.conf.all.disable_ipv6): IPv4 only.
            }
        }
        return BindTo(IPAddress.Any);
    }

    private Socket BindTo(IPAddress ip, bool dualMode = false)
    {
        Socket socket;
        try
        {
            socket = new Socket(ip.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        }
        catch (SocketException e)
        {
            throw new IOException($"metrics address {_address}: cannot create a socket ({e.SocketErrorCode}: {e.Message})", e);
        }
        try
        {
            if (dualMode)
                socket.DualMode = true;
            // Only SO_REUSEADDR, so a restarted daemon binds while its old connections sit in TIME_WAIT. (.NET's Bind
            // sets it on TCP sockets too today; saying it here keeps the restart from resting on that.) Not
            // Socket.ReuseAddress: on Linux .NET sets SO_REUSEPORT with it, and that would let a second daemon bind
            // the same port and share the scrapes instead of being told the port is in use.
            socket.SetRawSocketOption(SolSocket, SoReuseAddr, BitConverter.GetBytes(1));
            socket.Bind(new IPEndPoint(ip, _address.Port));
            socket.Listen(128);
            return socket;
        }
        catch (SocketException e)
        {
            socket.Dispose();
            throw new IOException(e.SocketErrorCode switch
            {
                SocketError.AddressAlreadyInUse => $"metrics address {_address}: port in use (EADDRINUSE): another metagpu or exporter on this node? set --metrics-address",
                SocketError.AddressNotAvailable => $"metrics address {_address}: this node has no such address (EADDRNOTAVAIL): use one of its addresses, or :{_address.Port} for all",
                SocketError.AccessDenied => $"metrics address {_address}: permission denied (EACCES): ports below 1024 need CAP_NET_BIND_SERVICE; choose a port above 1023",
                _ => $"metrics address {_address}: cannot listen ({e.SocketErrorCode}: {e.Message})",
            }, e);
        }
    }

    private const int SolSocket = 1;
    private const int SoReuseAddr = 2;

    private async Task AcceptLoopAsync(Socket listener)
    {
        while (!_stopping.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await listener.AcceptAsync(_stopping.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException)
            {
                return;
            }
            catch (SocketException e)
            {
                // EMFILE and friends: say so, breathe, go on serving the connections we have.
                _log.LogWarning("metrics: accept failed: {Error}", e.Message);
                try
                {
                    await Task.Delay(100, _stopping.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
                continue;
            }
            if (_connections.Count >= Limits.MaxConnections && !EvictLongestWaiting())
            {
                NoteRefusal();
                socket.Dispose();
                continue;
            }
            var connection = new MetricsConnection(this, socket);
            _connections[connection] = 0;
            connection.Start();
        }
    }

    /// <summary>Closes the connection that has waited longest for a request (an idle keep-alive, a slow client).</summary>
    private bool EvictLongestWaiting()
    {
        MetricsConnection? oldest = null;
        var oldestSince = long.MaxValue;
        foreach (var c in _connections.Keys)
        {
            var since = c.WaitingSince;
            if (since != 0 && since < oldestSince && !c.Evicted)
            {
                oldest = c;
                oldestSince = since;
            }
        }
        if (oldest is null)
            return false;
        oldest.Evict();
        return true;
    }

    /// <summary>At most one warning a minute, with how many were refused, so a flood cannot flood the log.</summary>
    private void NoteRefusal()
    {
        var refused = Interlocked.Increment(ref _refusedSinceLog);
        var now = Environment.TickCount64;
        var last = Interlocked.Read(ref _lastRefusalLog);
        if (last != long.MinValue && now - last < 60_000)
            return;
        if (Interlocked.CompareExchange(ref _lastRefusalLog, now, last) != last)
            return;
        Interlocked.Add(ref _refusedSinceLog, -refused);
        _log.LogWarning("metrics: refused {Refused} connection(s): {Max} connections open, each busy sending an answer", refused, Limits.MaxConnections);
    }

    internal void Closed(MetricsConnection connection) => _connections.TryRemove(connection, out _);

    internal bool IsHealthy()
    {
        try
        {
            return _healthy();
        }
        catch (Exception e)
        {
            _log.LogWarning("metrics: the health check failed, answering 503: {Error}", e.Message);
            return false;
        }
    }

    /// <summary>Renders the metrics into a buffer from the pool; false (and a warning) when the renderer threw.</summary>
    internal bool TryRender(out ResponseBuffer buffer)
    {
        lock (_buffers)
            buffer = _buffers.Count > 0 ? _buffers.Pop() : new ResponseBuffer();
        buffer.Reset();
        try
        {
            _writeMetrics(buffer);
            return true;
        }
        catch (Exception e)
        {
            _log.LogWarning("metrics: rendering the metrics failed, answering 500: {Error}", e.Message);
            return false;
        }
    }

    internal void Return(ResponseBuffer buffer)
    {
        lock (_buffers)
        {
            if (_buffers.Count < Limits.KeptBuffers)
                _buffers.Push(buffer);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;
        _stopping.Cancel();
        _listener?.Dispose();
        await _acceptLoop.ConfigureAwait(false);
        var running = new List<Task>();
        foreach (var c in _connections.Keys)
        {
            c.Evict();
            running.Add(c.Completion);
        }
        await Task.WhenAll(running).WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        _stopping.Dispose();
    }
}
