using System.Net.Sockets;
using Grpc.Core;
using MetaGpu.Rpc.Http2;
using Microsoft.Extensions.Logging;

namespace MetaGpu.Rpc.Grpc;

/// <summary>
/// A gRPC client channel to one Unix socket: one HTTP/2 connection, opened on the first call and opened again
/// after the peer went away (GOAWAY, EOF, reset). Generated clients take it (or <see cref="CreateCallInvoker"/>) unchanged.
/// </summary>
public sealed class UnixChannel : ChannelBase, IDisposable
{
    private readonly UnixChannelOptions _options;
    private readonly Http2ConnectionOptions _connectionOptions;
    private readonly SemaphoreSlim _connectLock = new(1, 1);
    private readonly ILogger? _log;
    private Http2Connection? _connection;
    private bool _disposed;
    private int _connectionsOpened;

    public UnixChannel(string socketPath, UnixChannelOptions? options = null) : base("unix:" + socketPath)
    {
        SocketPath = socketPath;
        _options = options ?? new UnixChannelOptions();
        _log = _options.Logger;
        _connectionOptions = new Http2ConnectionOptions
        {
            HandshakeTimeout = Timeout.InfiniteTimeSpan,
            MaxHeaderListSize = _options.MaxHeaderListSize,
            MemoryBudget = _options.MemoryBudget ?? new MemoryBudget(64 * 1024 * 1024),
        };
        // Room for the largest response accepted plus a stream window of bytes behind it.
        _connectionOptions.MaxBufferedBytes = (int)Math.Min(int.MaxValue,
            Math.Max(_connectionOptions.MaxBufferedBytes, (long)_options.MaxReceiveMessageSize + _connectionOptions.StreamWindowSize + 64 * 1024));
    }

    public string SocketPath { get; }

    /// <summary>How many connections this channel has opened: 1 while the server stays up, one more per reconnection.</summary>
    public int ConnectionsOpened => Volatile.Read(ref _connectionsOpened);
    internal UnixChannelOptions Options => _options;

    public override CallInvoker CreateCallInvoker() => new UnixCallInvoker(this);

    /// <summary>
    /// One unary call, without a <see cref="CallInvoker"/>: a generated client's call is a generic virtual method,
    /// which native AOT resolves at run time (see <see cref="ProtobufMethods"/>); this one is resolved when compiled.
    /// </summary>
    public Task<TResponse> UnaryAsync<TRequest, TResponse>(Method<TRequest, TResponse> method, TRequest request, CallOptions options)
        where TRequest : class
        where TResponse : class
    {
        return ClientCall.Typed<TResponse>(UnaryAsync(ClientCall.Start(this, method, options, request)));
    }

    private static async Task<object> UnaryAsync(ClientCall call)
    {
        try
        {
            return await call.ReadSingleResponseAsync().ConfigureAwait(false);
        }
        finally
        {
            call.Dispose();
        }
    }

    /// <summary>The live connection, or a new one. Failures become UNAVAILABLE (or DEADLINE_EXCEEDED) with the reason.</summary>
    internal async ValueTask<Http2Connection> GetConnectionAsync(DateTime deadlineUtc, CancellationToken cancellationToken)
    {
        var current = Volatile.Read(ref _connection);
        if (current is not null && current.IsUsable)
            return current;

        await _connectLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            current = _connection;
            if (current is not null && current.IsUsable)
                return current;
            ObjectDisposedException.ThrowIf(_disposed, this);

            var timeout = _options.ConnectTimeout;
            var byDeadline = false;
            if (deadlineUtc != DateTime.MaxValue)
            {
                var left = deadlineUtc - DateTime.UtcNow;
                if (left < timeout)
                {
                    timeout = left > TimeSpan.Zero ? left : TimeSpan.Zero;
                    byDeadline = true;
                }
            }
            var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            using var connectTimeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            connectTimeout.CancelAfter(timeout);
            try
            {
                await socket.ConnectAsync(new UnixDomainSocketEndPoint(SocketPath), connectTimeout.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                socket.Dispose();
                throw new RpcException(byDeadline
                    ? new Status(StatusCode.DeadlineExceeded, $"Deadline Exceeded while connecting to unix:{SocketPath}")
                    : new Status(StatusCode.Unavailable, $"connecting to unix:{SocketPath} timed out after {timeout.TotalMilliseconds:0} ms"));
            }
            catch (SocketException e)
            {
                socket.Dispose();
                var why = File.Exists(SocketPath) ? $"{e.Message} ({e.SocketErrorCode})" : "no socket there (is the server running?)";
                throw new RpcException(new Status(StatusCode.Unavailable, $"cannot connect to unix:{SocketPath}: {why}"));
            }
            catch
            {
                socket.Dispose();
                throw;
            }
            var connection = Http2Connection.StartClient(socket, _connectionOptions, _log);
            Volatile.Write(ref _connection, connection);
            Interlocked.Increment(ref _connectionsOpened);
            return connection;
        }
        finally
        {
            _connectLock.Release();
        }
    }

    /// <summary><c>ShutdownAsync()</c>: no new calls; completes when the calls in flight have finished and the connection is closed.</summary>
    protected override async Task ShutdownAsyncCore()
    {
        var connection = Close();
        if (connection is not null)
            await connection.Completion.ConfigureAwait(false);
    }

    /// <summary>Sends GOAWAY; the connection closes once the calls in flight are done. New calls fail.</summary>
    public void Dispose() => Close();

    private Http2Connection? Close()
    {
        Http2Connection? connection;
        _connectLock.Wait();
        try
        {
            _disposed = true;
            connection = _connection;
            _connection = null;
        }
        finally
        {
            _connectLock.Release();
        }
        connection?.BeginGracefulClose("client closing");
        return connection;
    }
}
