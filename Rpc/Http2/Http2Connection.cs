using System.Buffers.Binary;
using System.Net.Sockets;
using MetaGpu.Rpc.Hpack;
using Microsoft.Extensions.Logging;

namespace MetaGpu.Rpc.Http2;

/// <summary>
/// One HTTP/2 connection (RFC 9113) over a connected socket, in the server or the client role.
/// A single read loop parses frames; writers append frames to a pending buffer under <see cref="StateLock"/> and
/// whoever finds no flush running sends it, so a response's HEADERS, DATA and trailers leave in one syscall.
/// The read loop never waits on a send, so a peer that stops reading cannot stall frame processing.
/// </summary>
public sealed partial class Http2Connection : IAsyncDisposable
{
    /// <summary>
    /// Rented only while input is there (an idle connection waits with a zero-byte read and holds none). 64 KiB: the
    /// kubelet's 46 KB GetPreferredAllocation of 800 IDs comes in with one recvmsg (two at 32 KiB).
    /// </summary>
    private const int ReadBufferSize = 64 * 1024;
    private const int PendingFlushWait = 256 * 1024;
    private const int MaxContinuationFrames = 128;

    internal readonly Lock StateLock = new();
    private readonly Socket _socket;
    private readonly Http2ConnectionOptions _options;
    private readonly Action<Http2Stream>? _onRequest;
    private readonly List<Http2Stream> _streamsToWake = [];

    /// <summary>The peer's repeated header strings (<see cref="HeaderStrings"/>), for the read loop's decoding.</summary>
    private readonly HeaderStrings _headerStrings = new();
    private readonly List<Http2Stream> _requestsToDispatch = [];
    private readonly ILogger? _log;
    private readonly TaskCompletionSource _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);

    // Output, guarded by StateLock except _sending, which only the current flusher touches.
    private OutputChunks _pending;
    private OutputChunks _sending;
    private int _sendingCount;
    private int _responseFramesQueued;   // PING/SETTINGS ACKs and RST_STREAMs the read loop queued, not yet handed to the socket
    private int _responseFramesSending;
    private readonly PooledBufferWriter _headerScratch = new(1024);
    private readonly HpackEncoder _encoder = new();
    private bool _flushing;
    private TaskCompletionSource? _flushProgress;

    // Input, touched by the read loop only.
    private readonly HpackDecoder _decoder;
    private readonly PooledBufferWriter _headerBlock = new(1024);
    private byte[]? _readBuffer;
    private int _readStart;
    private int _readEnd;
    private int _continuationStreamId;
    private bool _continuationEndStream;
    private int _continuationFrames;
    private int _framesSinceFlush;

    // Connection state, guarded by StateLock.
    private readonly Dictionary<int, Http2Stream> _streams = new();
    private readonly List<Http2Stream> _connectionWindowWaiters = new();
    private List<TaskCompletionSource>? _streamSlotWaiters;
    private int _activeLocal;
    private int _activeRemote;
    private int _lastRemoteStreamId;
    private int _nextLocalStreamId;
    private long _connectionSendWindow = Http2Limits.DefaultWindowSize;
    private int _connectionReceiveWindow = Http2Limits.DefaultWindowSize;
    private int _connectionReceiveUnacknowledged;
    private long _inboxBytes;   // received DATA no handler has read yet
    private long _charged;      // everything this connection holds of the memory budget (input side)
    private long _headerBlockCharge;
    private long _idleSince;    // Environment.TickCount64 when the last stream closed (or the connection opened)
    private readonly MemoryBudget _budget;
    private int _peerInitialWindowSize = Http2Limits.DefaultWindowSize;
    private int _peerMaxConcurrentStreams = int.MaxValue;
    private bool _goAwaySent;
    private bool _goAwayReceived;
    private int _goAwayReceivedLastStreamId = int.MaxValue;
    private bool _closed;
    private string? _closeReason;

    // Rapid-reset accounting, touched by the read loop only.
    private long _resetWindowStart;
    private int _resetsInWindow;

    /// <summary>A connection holding at most this much may use the budget's reserve (see <see cref="MemoryBudget.Reserve"/>).</summary>
    private const int SmallHolding = 256 * 1024;

    private Http2Connection(Socket socket, bool isServer, Http2ConnectionOptions options, Action<Http2Stream>? onRequest, ILogger? log)
    {
        _socket = socket;
        IsServer = isServer;
        _options = options;
        _onRequest = onRequest;
        _log = log;
        _decoder = new HpackDecoder(options.HeaderTableSize);
        _nextLocalStreamId = isServer ? 2 : 1;
        _budget = options.MemoryBudget;
        _pending = new OutputChunks(_budget);
        _sending = new OutputChunks(_budget);
        _idleSince = Environment.TickCount64;
    }

    public bool IsServer { get; }

    /// <summary>Completes when the connection is closed, for whatever reason.</summary>
    public Task Completion => _completion.Task;

    /// <summary>Why the connection closed, once it has.</summary>
    public string? CloseReason
    {
        get
        {
            lock (StateLock)
                return _closeReason;
        }
    }

    /// <summary>True while new streams may be opened on this connection (client role).</summary>
    public bool IsUsable
    {
        get
        {
            lock (StateLock)
                return !_closed && !_goAwayReceived && !_goAwaySent && _nextLocalStreamId < int.MaxValue - 2;
        }
    }

    public int ActiveStreamCount
    {
        get
        {
            lock (StateLock)
                return _streams.Count;
        }
    }

    /// <summary>Bytes of the memory budget this connection holds now (input side: requests, messages, headers).</summary>
    public long BufferedBytes
    {
        get
        {
            lock (StateLock)
                return _charged;
        }
    }

    /// <summary>
    /// <see cref="Environment.TickCount64"/> at which the connection last had no open stream, or null while one
    /// is open: the eviction order when the server is at its connection cap.
    /// </summary>
    public long? IdleSince
    {
        get
        {
            lock (StateLock)
                return _closed || _streams.Count > 0 ? null : _idleSince;
        }
    }

    /// <summary>Takes <paramref name="bytes"/> of this connection's share and of the process budget; false when either is used up.</summary>
    internal bool TryChargeLocked(long bytes)
    {
        if (bytes <= 0)
            return true;
        if (_charged + bytes > _options.MaxBufferedBytes)
        {
            _budget.NoteRefusal();
            return false;
        }
        if (!_budget.TryReserve(bytes, mayUseReserve: _charged + bytes <= SmallHolding))
            return false;
        _charged += bytes;
        return true;
    }

    internal void ReleaseLocked(long bytes)
    {
        if (bytes <= 0)
            return;
        _charged -= bytes;
        _budget.Release(bytes);
    }

    /// <summary>
    /// Periodic housekeeping, driven by the server's timer: closes the connection when it has had no open stream
    /// for <see cref="Http2ConnectionOptions.IdleTimeout"/>, resets streams whose message stopped arriving half-way
    /// (<see cref="Http2ConnectionOptions.MessageAssemblyTimeout"/>), and hands out window withheld while memory was short.
    /// </summary>
    public void Sweep()
    {
        var now = Environment.TickCount64;
        var idleMs = ToMilliseconds(_options.IdleTimeout);
        var assemblyMs = ToMilliseconds(_options.MessageAssemblyTimeout);
        List<Http2Stream>? stalled = null;
        var idle = false;
        bool startFlush;
        lock (StateLock)
        {
            if (_closed)
                return;
            if (_streams.Count == 0)
                idle = !_goAwaySent && now - _idleSince >= idleMs;
            else if (assemblyMs != long.MaxValue)
            {
                foreach (var s in _streams.Values)
                {
                    if (s.AssemblyStarted != 0 && now - s.AssemblyStarted >= assemblyMs)
                        (stalled ??= []).Add(s);
                }
            }
            if (_connectionReceiveUnacknowledged > 0)
                CreditConnectionLocked(0);
            startFlush = ScheduleFlushLocked();
        }
        if (startFlush)
            _ = FlushLoopAsync();
        if (idle)
        {
            _log?.LogDebug("closing an HTTP/2 connection idle for {Timeout}", _options.IdleTimeout);
            BeginGracefulClose("idle timeout");
        }
        if (stalled is not null)
        {
            foreach (var s in stalled)
            {
                _log?.LogDebug("stream {StreamId}: request message incomplete after {Timeout}, reset", s.Id, _options.MessageAssemblyTimeout);
                ResetStream(s.Id, Http2ErrorCode.Cancel, $"request message incomplete after {_options.MessageAssemblyTimeout}");
            }
        }
    }

    private static long ToMilliseconds(TimeSpan t) =>
        t == Timeout.InfiniteTimeSpan || t < TimeSpan.Zero || t.TotalMilliseconds >= long.MaxValue / 2 ? long.MaxValue : (long)t.TotalMilliseconds;

    /// <summary>Serves a freshly accepted socket: sends SETTINGS, expects the client preface, then calls <paramref name="onRequest"/> for each new stream (on the read loop: hand it off quickly).</summary>
    public static Http2Connection StartServer(Socket socket, Http2ConnectionOptions options, Action<Http2Stream> onRequest, ILogger? log = null)
    {
        var connection = new Http2Connection(socket, isServer: true, options, onRequest, log);
        connection.QueueSettingsAndWindow();
        _ = connection.RunAsync();
        return connection;
    }

    /// <summary>Starts the client role over a connected socket: preface, SETTINGS, then the read loop.</summary>
    public static Http2Connection StartClient(Socket socket, Http2ConnectionOptions options, ILogger? log = null)
    {
        var connection = new Http2Connection(socket, isServer: false, options, null, log);
        lock (connection.StateLock)
            connection._pending.Write(Http2Limits.ClientPreface);
        connection.QueueSettingsAndWindow();
        _ = connection.RunAsync();
        return connection;
    }

    private void QueueSettingsAndWindow()
    {
        bool flush;
        lock (StateLock)
        {
            Span<byte> settings = stackalloc byte[5 * 6];
            var n = 0;
            n += WriteSetting(settings[n..], SettingId.EnablePush, 0);
            n += WriteSetting(settings[n..], SettingId.MaxConcurrentStreams, (uint)_options.MaxConcurrentStreams);
            n += WriteSetting(settings[n..], SettingId.InitialWindowSize, (uint)_options.StreamWindowSize);
            n += WriteSetting(settings[n..], SettingId.MaxHeaderListSize, (uint)_options.MaxHeaderListSize);
            if (_options.HeaderTableSize != 4096)
                n += WriteSetting(settings[n..], SettingId.HeaderTableSize, (uint)_options.HeaderTableSize);
            AppendFrameLocked(FrameType.Settings, FrameFlags.None, 0, settings[..n]);
            var raise = _options.ConnectionWindowSize - Http2Limits.DefaultWindowSize;
            if (raise > 0)
            {
                AppendWindowUpdateLocked(0, raise);
                _connectionReceiveWindow += raise;
            }
            flush = ScheduleFlushLocked();
        }
        if (flush)
            _ = FlushLoopAsync();

        static int WriteSetting(Span<byte> dst, SettingId id, uint value)
        {
            BinaryPrimitives.WriteUInt16BigEndian(dst, (ushort)id);
            BinaryPrimitives.WriteUInt32BigEndian(dst[2..], value);
            return 6;
        }
    }


    /// <summary>
    /// Graceful close: GOAWAY(NO_ERROR) with the last stream we accepted; in-flight streams finish, new ones are
    /// refused, and the connection closes when the last one ends.
    /// </summary>
    public void BeginGracefulClose(string debug = "server shutting down")
    {
        bool startFlush;
        bool closeNow;
        lock (StateLock)
        {
            if (_closed || _goAwaySent)
                return;
            _goAwaySent = true;
            AppendGoAwayLocked(_lastRemoteStreamId, Http2ErrorCode.NoError, debug);
            startFlush = ScheduleFlushLocked();
            closeNow = _streams.Count == 0;
        }
        if (startFlush)
            _ = FlushLoopAsync();
        if (closeNow)
            _ = Task.Run(CloseWhenFlushedAsync);
    }

    private async Task SendGoAwayAndCloseAsync(Http2ErrorCode code, string reason)
    {
        bool startFlush;
        lock (StateLock)
        {
            if (_closed)
                return;
            _goAwaySent = true;
            AppendGoAwayLocked(_lastRemoteStreamId, code, reason.Length > 256 ? reason[..256] : reason);
            startFlush = ScheduleFlushLocked();
        }
        if (startFlush)
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(1));
            try
            {
                await FlushLoopAsync().AsTask().WaitAsync(timeout.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
            }
        }
        Abort(reason);
    }

    private async Task CloseWhenFlushedAsync()
    {
        // Let queued frames (the last trailers, GOAWAY) leave before the socket goes.
        for (var i = 0; i < 100; i++)
        {
            lock (StateLock)
            {
                if (_closed || (!_flushing && _pending.WrittenCount == 0))
                    break;
            }
            await Task.Delay(10).ConfigureAwait(false);
        }
        try
        {
            _socket.Shutdown(SocketShutdown.Send);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
        }
        Abort("closed after GOAWAY");
    }

    /// <summary>Closes the connection at once; every open stream fails with a lost-connection error.</summary>
    public void Abort(string reason)
    {
        List<Http2Stream> aborted;
        List<TaskCompletionSource>? slotWaiters;
        TaskCompletionSource? progress;
        lock (StateLock)
        {
            if (_closed)
                return;
            _closed = true;
            _closeReason = reason;
            aborted = new List<Http2Stream>(_streams.Values);
            foreach (var s in aborted)
                ReleaseInboxLocked(s.AbortLockedAndCount(Http2ErrorCode.Cancel, reason, connectionLost: true, refused: false));
            foreach (var s in aborted)
            {
                s.Closed = true;
                ReleaseLocked(s.HeaderCharge);
                s.HeaderCharge = 0;
            }
            ReleaseLocked(_headerBlockCharge);
            _headerBlockCharge = 0;
            _streams.Clear();
            _activeLocal = _activeRemote = 0;
            slotWaiters = _streamSlotWaiters;
            _streamSlotWaiters = null;
            progress = _flushProgress;
            _flushProgress = null;
            if (!_flushing)
            {
                _pending.Dispose();
                _sending.Dispose();
            }
        }
        foreach (var s in aborted)
            s.FireAborted();
        if (slotWaiters is not null)
        {
            foreach (var w in slotWaiters)
                w.TrySetResult();
        }
        progress?.TrySetResult();
        try
        {
            _socket.Dispose();
        }
        catch (Exception)
        {
        }
        _completion.TrySetResult();
    }

    public ValueTask DisposeAsync()
    {
        Abort("disposed");
        return ValueTask.CompletedTask;
    }
}


/// <summary>No new stream can be opened: the connection closed or is going away. Safe to retry on a new connection.</summary>
public sealed class Http2ConnectionClosedException(string message) : IOException(message);
