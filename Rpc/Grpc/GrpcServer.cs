using System.Collections.Concurrent;
using System.Globalization;
using System.Net.Sockets;
using System.Text;
using Grpc.Core;
using MetaGpu.Rpc.Http2;
using Microsoft.Extensions.Logging;

namespace MetaGpu.Rpc.Grpc;

/// <summary>
/// A gRPC server over HTTP/2 on Unix domain sockets, hosting Grpc.Core.Api service definitions.
/// Each accepted connection is served by its own read loop; each call runs on the thread pool.
/// </summary>
public sealed class GrpcServer : IAsyncDisposable
{
    private readonly GrpcServerOptions _options;
    private readonly Http2ConnectionOptions _connectionOptions;
    private readonly ServerMethodBinder _binder = new();
    private readonly ConcurrentDictionary<Http2Connection, byte> _connections = new();
    private readonly List<(Socket Socket, string Path, Task AcceptLoop)> _listeners = new();
    private readonly CancellationTokenSource _stopping = new();
    private readonly ILogger? _log;
    private int _stopped;

    public GrpcServer(GrpcServerOptions? options = null)
    {
        _options = options ?? new GrpcServerOptions();
        _log = _options.Logger;
        _connectionOptions = new Http2ConnectionOptions
        {
            MaxConcurrentStreams = _options.MaxConcurrentStreams,
            MaxHeaderListSize = _options.MaxHeaderListSize,
            HandshakeTimeout = _options.HandshakeTimeout,
            StreamWindowSize = _options.StreamWindowSize,
            ConnectionWindowSize = _options.ConnectionWindowSize,
            MemoryBudget = _options.MemoryBudget,
            // Room for the largest message a handler accepts plus a stream window of bytes behind it, whatever the setting.
            MaxBufferedBytes = (int)Math.Min(int.MaxValue, Math.Max(_options.MaxConnectionBufferedBytes, (long)_options.MaxReceiveMessageSize + _options.StreamWindowSize + 64 * 1024)),
            IdleTimeout = _options.IdleTimeout,
            MessageAssemblyTimeout = _options.MessageAssemblyTimeout,
            MaxResetsPerInterval = _options.MaxResetsPerInterval,
            ResetInterval = _options.ResetInterval,
        };
        IdleCompaction.Enable(_options.IdleCompactionDelay);
        _sweeper = new Timer(static s => ((GrpcServer)s!).Sweep(), this, Timeout.Infinite, Timeout.Infinite);
    }

    private readonly Timer _sweeper;
    private int _sweeperStarted;

    /// <summary>
    /// How often connections are swept for the idle and message-assembly timeouts: a quarter of the shorter one,
    /// between 10 ms and 1 s, so a timeout fires at most about a quarter late.
    /// </summary>
    private TimeSpan SweepInterval
    {
        get
        {
            var shortest = TimeSpan.FromSeconds(4);
            foreach (var t in new[] { _options.IdleTimeout, _options.MessageAssemblyTimeout })
            {
                if (t != Timeout.InfiniteTimeSpan && t > TimeSpan.Zero && t < shortest)
                    shortest = t;
            }
            return TimeSpan.FromMilliseconds(Math.Clamp(shortest.TotalMilliseconds / 4, 10, 1000));
        }
    }

    private void Sweep()
    {
        foreach (var c in _connections.Keys)
        {
            try
            {
                c.Sweep();
            }
            catch (Exception e)
            {
                _log?.LogError(e, "sweeping an HTTP/2 connection failed");
            }
        }
    }

    /// <summary>Connections currently open, for tests and metrics.</summary>
    public int ConnectionCount => _connections.Count;

    /// <summary>Adds every method of a service definition (e.g. <c>Echo.BindService(impl)</c>).</summary>
    public GrpcServer AddService(ServerServiceDefinition definition)
    {
        ServerMethodBinder.BindDefinition(definition, _binder);
        return this;
    }

    /// <summary>
    /// Adds one unary method. Binding method by method, with descriptors from <see cref="ProtobufMethods"/>, needs no
    /// generic virtual call (<see cref="ServiceBinderBase"/>'s), which native AOT would resolve at run time.
    /// </summary>
    /// <param name="inline">
    /// Run the handler on the connection's read loop instead of the thread pool: for handlers that only compute a
    /// small answer (never wait, never do I/O), this saves two thread hops per call. A handler that may take long
    /// would hold up every other call on the connection, so those stay on the pool.
    /// </param>
    /// <param name="inlineMaxRequestBytes">
    /// For a handler whose work grows with its request: an inline call goes on on the read loop only while its
    /// request message's length prefix declares at most this many bytes; a larger one is read and handled on the
    /// pool, so a peer's large request never holds the loop for longer than this much work. A request within the size
    /// that comes in several reads is read, and answered, on the read loop as its last bytes arrive (no hand-over to
    /// the pool for the 46 KB GetPreferredAllocation of 800 IDs, at least three DATA frames).
    /// </param>
    public GrpcServer AddUnary<TRequest, TResponse>(Method<TRequest, TResponse> method, UnaryServerMethod<TRequest, TResponse> handler, bool inline = false,
        int inlineMaxRequestBytes = int.MaxValue)
        where TRequest : class
        where TResponse : class
    {
        ArgumentOutOfRangeException.ThrowIfNegative(inlineMaxRequestBytes);
        _binder.Add(method, new ServerMethod<TRequest, TResponse>(method) { Unary = handler, Inline = inline, InlineMaxRequestBytes = inlineMaxRequestBytes });
        return this;
    }

    /// <summary>Adds one server-streaming method (see <see cref="AddUnary{TRequest,TResponse}"/>); it runs on the thread pool.</summary>
    public GrpcServer AddServerStreaming<TRequest, TResponse>(Method<TRequest, TResponse> method, ServerStreamingServerMethod<TRequest, TResponse> handler)
        where TRequest : class
        where TResponse : class
    {
        _binder.Add(method, new ServerMethod<TRequest, TResponse>(method) { ServerStreaming = handler });
        return this;
    }

    /// <summary>Adds methods through a binder callback (e.g. <c>b => Echo.BindService(b, impl)</c>).</summary>
    public GrpcServer AddService(Action<ServiceBinderBase> bind)
    {
        bind(_binder);
        return this;
    }

    /// <summary>
    /// The process at the other end of the call's connection (<see cref="UnixPeer"/>); null when the server was not
    /// asked to read it (<see cref="GrpcServerOptions.ReadPeerCredentials"/>), the kernel gave none, or the context is
    /// not one of this server's.
    /// </summary>
    public static UnixPeer? UnixPeerOf(ServerCallContext context) => (context as ServerCall)?.UnixPeer;

    /// <summary>The longest path a Unix socket can be bound to: <c>sun_path</c> holds 108 bytes with the final NUL.</summary>
    public const int MaxUnixSocketPathBytes = 107;

    /// <summary>
    /// Binds a Unix socket at <paramref name="socketPath"/> and starts accepting: clients may connect as soon as it
    /// returns. Call it again to serve the same services on more sockets. A socket file left by a process that is gone
    /// (nothing accepts on it) is replaced; one that still answers is never touched.
    /// </summary>
    /// <exception cref="IOException">The path is too long for a Unix socket, its directory does not exist, or another
    /// process serves on it (the message says which).</exception>
    public void ListenUnix(string socketPath)
    {
        if (Volatile.Read(ref _stopped) != 0)
            throw new ObjectDisposedException(nameof(GrpcServer));
        // Checked here, not left to UnixDomainSocketEndPoint: its exception is an ArgumentOutOfRangeException whose
        // text is a bare resource key in a trimmed binary.
        var bytes = Encoding.UTF8.GetByteCount(socketPath);
        if (bytes > MaxUnixSocketPathBytes)
            throw new IOException($"cannot listen on {socketPath}: the path is {bytes} bytes long, and a Unix socket path may have at most {MaxUnixSocketPathBytes}");
        var directory = Path.GetDirectoryName(Path.GetFullPath(socketPath));
        if (directory is not null && !Directory.Exists(directory))
            throw new DirectoryNotFoundException($"cannot listen on {socketPath}: directory {directory} does not exist");
        var endpoint = new UnixDomainSocketEndPoint(socketPath);
        if (File.Exists(socketPath))
        {
            if (Answers(endpoint, socketPath))
                throw new IOException($"socket {socketPath} is in use by another process; stop it first or choose another path");
            File.Delete(socketPath); // stale: its server is gone, and binding needs the name free
        }
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            socket.Bind(endpoint);
            socket.Listen(4096); // the kernel caps it at net.core.somaxconn
        }
        catch
        {
            socket.Dispose();
            throw;
        }
        lock (_listeners)
            _listeners.Add((socket, socketPath, AcceptLoopAsync(socket, socketPath)));
    }

    /// <summary>
    /// Whether a server accepts on the socket file: a connect that succeeds (or would block on a full backlog) means
    /// yes, ECONNREFUSED means the file is left over (also what a file that is not a socket answers).
    /// </summary>
    private static bool Answers(UnixDomainSocketEndPoint endpoint, string socketPath)
    {
        using var probe = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified) { Blocking = false };
        try
        {
            probe.Connect(endpoint);
            return true;
        }
        catch (SocketException e) when (e.SocketErrorCode is SocketError.ConnectionRefused or SocketError.AddressNotAvailable)
        {
            return false;
        }
        catch (SocketException e) when (e.SocketErrorCode is SocketError.WouldBlock or SocketError.InProgress or SocketError.IOPending)
        {
            return true;
        }
        catch (SocketException e)
        {
            throw new IOException($"cannot listen on {socketPath}: it exists and cannot be checked for a server ({e.Message}); remove it if it is left over", e);
        }
    }

    private async Task AcceptLoopAsync(Socket listener, string path)
    {
        long accepted = 0;
        if (Interlocked.Exchange(ref _sweeperStarted, 1) == 0)
            _sweeper.Change(SweepInterval, SweepInterval);
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
                _log?.LogWarning("accept on {Path} failed: {Error}", path, e.Message);
                await Task.Delay(100).ConfigureAwait(false);
                continue;
            }

            if (_connections.Count >= _options.MaxConnections && !EvictIdlest())
            {
                _log?.LogWarning("refusing a connection on {Path}: {Count} connections open, each with a call in progress", path, _connections.Count);
                socket.Dispose();
                continue;
            }
            // ServerCallContext.Peer names the connection, not only the socket: a Unix peer has no address of its own,
            // and a service may need to tell calls on one connection from calls on another (the device plugin ties
            // the kubelet's ListAndWatch to the connection the kubelet registered on).
            // The peer's credentials are the kernel's record of who called connect(2), read before the first byte.
            var peer = new ConnectionPeer(string.Create(CultureInfo.InvariantCulture, $"unix:{path}#{++accepted}"),
                _options.ReadPeerCredentials ? UnixPeer.Read(socket) : null);
            if (_options.InlineSocketCompletions)
                InlineCompletions.TryEnable(socket);
            var connection = Http2Connection.StartServer(socket, _connectionOptions, stream => Dispatch(stream, peer), _log);
            _connections.TryAdd(connection, 0);
            _ = connection.Completion.ContinueWith(static (completed, s) =>
            {
                var (server, c, p) = ((GrpcServer, Http2Connection, ConnectionPeer))s!;
                server._connections.TryRemove(c, out _);
                p.Unix?.Dispose();
                IdleCompaction.NoteActivity();
            }, (this, connection, peer), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }
    }

    /// <summary>
    /// At the connection cap, closes the connection that has had no open stream the longest, so that the kubelet or
    /// a probe is never locked out by connections that only sit there. False when every connection has a call open.
    /// </summary>
    private bool EvictIdlest()
    {
        Http2Connection? idlest = null;
        var since = long.MaxValue;
        foreach (var c in _connections.Keys)
        {
            if (c.IdleSince is { } t && t < since)
            {
                since = t;
                idlest = c;
            }
        }
        if (idlest is null)
            return false;
        _log?.LogDebug("connection cap of {Max} reached: closing the connection idle longest", _options.MaxConnections);
        _connections.TryRemove(idlest, out _);
        idlest.Abort("closed to make room: idle at the connection cap");
        return true;
    }

    private void Dispatch(Http2Stream stream, ConnectionPeer peer)
    {
        // Called on the connection's read loop, after the whole batch of frames that came with the request: a small
        // unary request's message is already here. An inline method runs to its answer now, and the read loop sends
        // it with the batch's other output; anything else runs on the thread pool. (An inline call that has to wait
        // for its message never holds the read loop: it goes on when the rest has come, on the pool, or on the read
        // loop for a method with a request bound.)
        // The path and its method are looked up once, here; HandleStreamAsync gets them (method null: none).
        var path = stream.HeaderListTooLarge ? null : GrpcProtocol.Find(stream.Headers!, ":path");
        var method = path is not null && _binder.Methods.TryGetValue(path, out var found) ? found : null;
        if (method is { Inline: true })
        {
            // With a request size, what is still to come of the request is read, and then answered, here as it
            // arrives, unless its length prefix says it is larger (MessageReader then goes to the pool); without
            // one, the rest is waited for on the pool.
            if (method.InlineMaxRequestBytes != int.MaxValue)
                stream.ContinueReadsOnReadLoop(method.InlineMaxRequestBytes);
            _ = HandleStreamAsync(stream, peer, path, method);
            return;
        }
        ThreadPool.UnsafeQueueUserWorkItem(static s => _ = s.Server.HandleStreamAsync(s.Stream, s.Peer, s.Path, s.Method),
            (Server: this, Stream: stream, Peer: peer, Path: path, Method: method), preferLocal: true);
    }

    private async Task HandleStreamAsync(Http2Stream stream, ConnectionPeer peer, string? path, IServerMethod? method)
    {
        var headers = stream.Headers!;
        if (stream.HeaderListTooLarge)
        {
            await RejectAsync(stream, "200", StatusCode.ResourceExhausted, $"request header list exceeds the limit of {_options.MaxHeaderListSize} bytes").ConfigureAwait(false);
            return;
        }
        var httpMethod = GrpcProtocol.Find(headers, ":method");
        if (httpMethod != "POST")
        {
            await RejectAsync(stream, "405", StatusCode.Internal, $"HTTP method {httpMethod} is not allowed; gRPC uses POST").ConfigureAwait(false);
            return;
        }
        var contentType = GrpcProtocol.Find(headers, "content-type");
        if (!GrpcProtocol.IsGrpcContentType(contentType))
        {
            await RejectAsync(stream, "415", StatusCode.Internal, $"content-type '{contentType}' is not gRPC").ConfigureAwait(false);
            return;
        }
        if (method is null)
        {
            await RejectAsync(stream, "200", StatusCode.Unimplemented, DescribeUnknown(path)).ConfigureAwait(false);
            return;
        }
        var encoding = GrpcProtocol.Find(headers, "grpc-encoding");
        if (encoding is not null && encoding != "identity")
        {
            await RejectAsync(stream, "200", StatusCode.Unimplemented, $"grpc-encoding '{encoding}' is not supported; use identity").ConfigureAwait(false);
            return;
        }
        try
        {
            await method.HandleAsync(stream, _options, peer).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            // The handler wrapper already maps every call error to a status; reaching here is our bug, not the caller's.
            _log?.LogError(e, "unexpected failure serving {Path}", path);
            stream.Reset(Http2ErrorCode.InternalError);
        }
        finally
        {
            IdleCompaction.NoteActivity();
        }
    }

    private string DescribeUnknown(string? path)
    {
        if (string.IsNullOrEmpty(path) || path[0] != '/')
            return $"malformed method path '{path}'";
        var slash = path.LastIndexOf('/');
        var service = slash > 0 ? path[1..slash] : path[1..];
        return _binder.Services.Contains(service)
            ? $"unknown method {path[(slash + 1)..]} for service {service}"
            : $"unknown service {service}";
    }

    private static Task RejectAsync(Http2Stream stream, string httpStatus, StatusCode code, string message) =>
        StatusWriter.SendAsync(stream, httpStatus, new Status(code, message), null).AsTask();

    /// <summary>
    /// Graceful shutdown: the socket files go at once, every connection gets GOAWAY, in-flight calls may finish
    /// within <paramref name="grace"/>, then everything closes. Calling it again (or <see cref="DisposeAsync"/>) does nothing.
    /// </summary>
    public async Task ShutdownAsync(TimeSpan grace)
    {
        if (Interlocked.Exchange(ref _stopped, 1) != 0)
            return;
        _stopping.Cancel();
        await _sweeper.DisposeAsync().ConfigureAwait(false);
        List<(Socket Socket, string Path, Task AcceptLoop)> listeners;
        lock (_listeners)
            listeners = [.. _listeners];
        foreach (var (socket, path, _) in listeners)
        {
            socket.Dispose();
            try
            {
                File.Delete(path);
            }
            catch (IOException)
            {
            }
        }
        foreach (var (_, _, loop) in listeners)
            await loop.ConfigureAwait(false);

        var connections = new List<Http2Connection>(_connections.Keys);
        var completions = new List<Task>(connections.Count);
        foreach (var c in connections)
        {
            c.BeginGracefulClose();
            completions.Add(c.Completion);
        }
        var all = Task.WhenAll(completions);
        if (await Task.WhenAny(all, Task.Delay(grace)).ConfigureAwait(false) != all)
        {
            foreach (var c in connections)
                c.Abort("shutdown grace period expired");
        }
        await all.ConfigureAwait(false);
        foreach (var c in connections)
            _connections.TryRemove(c, out _); // the completion callbacks may still be on their way
    }

    /// <summary>Shutdown with a 5 s grace period, unless it was shut down already.</summary>
    public async ValueTask DisposeAsync() => await ShutdownAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
}
