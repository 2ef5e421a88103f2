using System.Buffers;
using System.Globalization;
using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.Logging;

namespace MetaGpu.Usage.Metrics;

/// <summary>
/// One accepted connection: reads request heads (pipelined ones in order), answers each, keeps the connection
/// while the client wants it and behaves. Every wait has a deadline; any error closes the connection and costs
/// no one else anything.
/// </summary>
internal sealed class MetricsConnection(MetricsServer server, Socket socket)
{
    private readonly CancellationTokenSource _cancel = CancellationTokenSource.CreateLinkedTokenSource(server.Stopping);
    private readonly MetricsServerLimits _limits = server.Limits;
    private long _waitingSince = Environment.TickCount64 | 1;
    private int _evicted;

    public Task Completion { get; private set; } = Task.CompletedTask;

    /// <summary>When it began to wait for a request (a tick count, never 0), or 0 while it is answering one.</summary>
    public long WaitingSince => Volatile.Read(ref _waitingSince);

    public bool Evicted => Volatile.Read(ref _evicted) != 0;

    public void Start() => Completion = Task.Run(RunAsync);

    /// <summary>Closes it from outside: the server makes room, or stops.</summary>
    public void Evict()
    {
        if (Interlocked.Exchange(ref _evicted, 1) == 0)
        {
            try
            {
                _cancel.Cancel();
            }
            catch (ObjectDisposedException)
            {
            }
        }
    }

    private async Task RunAsync()
    {
        // Room for one whole head plus one byte: a head that does not end within the limit is refused.
        var input = ArrayPool<byte>.Shared.Rent(_limits.MaxRequestHead + 1);
        var filled = 0;
        var first = true;
        var graceful = false;
        try
        {
            socket.NoDelay = true;
            while (true)
            {
                Volatile.Write(ref _waitingSince, Environment.TickCount64 | 1);
                // A new connection has the head timeout to send its first request; a kept one may idle longer first.
                _cancel.CancelAfter(first ? _limits.HeadTimeout : _limits.IdleTimeout);
                var started = false;
                int end;
                while (true)
                {
                    filled = SkipEmptyLines(input, filled);
                    if (filled > 0 && !started)
                    {
                        started = true;
                        if (!first)
                            _cancel.CancelAfter(_limits.HeadTimeout);
                    }
                    end = RequestHead.FindEnd(input.AsSpan(0, Math.Min(filled, _limits.MaxRequestHead)));
                    if (end >= 0)
                        break;
                    if (filled > _limits.MaxRequestHead || filled == input.Length)
                    {
                        await AnswerAsync(431, "request head larger than 8 KiB\n"u8, keepAlive: false).ConfigureAwait(false);
                        graceful = true;
                        return;
                    }
                    var read = await socket.ReceiveAsync(input.AsMemory(filled), SocketFlags.None, _cancel.Token).ConfigureAwait(false);
                    if (read == 0)
                        return; // the client is done
                    filled += read;
                }

                Volatile.Write(ref _waitingSince, 0);
                var head = RequestHead.Parse(input.AsSpan(0, end));
                input.AsSpan(end, filled - end).CopyTo(input); // pipelined bytes of the next request
                filled -= end;
                first = false;
                _cancel.CancelAfter(_limits.WriteTimeout);
                if (!await RespondAsync(head).ConfigureAwait(false))
                {
                    graceful = true;
                    return;
                }
            }
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
        {
            // A deadline, an eviction, a reset: the connection ends.
        }
        catch (Exception e)
        {
            server.Log.LogWarning("metrics: a connection failed: {Error}", e.Message);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(input);
            if (graceful)
                await LingerAsync().ConfigureAwait(false);
            socket.Dispose();
            _cancel.Dispose();
            server.Closed(this);
        }
    }

    /// <summary>Blank lines before a request line are ignored (RFC 9112 2.2), e.g. a stray CRLF after a request.</summary>
    private static int SkipEmptyLines(byte[] input, int filled)
    {
        var skip = input.AsSpan(0, filled).IndexOfAnyExcept((byte)'\r', (byte)'\n');
        if (skip == 0)
            return filled;
        if (skip < 0)
            return 0;
        input.AsSpan(skip, filled - skip).CopyTo(input);
        return filled - skip;
    }

    /// <summary>Answers one request; false when the connection is to be closed after it.</summary>
    private async Task<bool> RespondAsync(RequestHead head)
    {
        if (head.Status != 0)
        {
            await AnswerAsync(head.Status, head.Status switch
            {
                413 => "request bodies are not accepted\n"u8,
                505 => "only HTTP/1.0 and HTTP/1.1 are served\n"u8,
                _ => "malformed request\n"u8,
            }, keepAlive: false).ConfigureAwait(false);
            return false;
        }
        if (head.Path == RequestPath.Other)
        {
            await AnswerAsync(404, "not found: the paths are /metrics and /healthz\n"u8, head.KeepAlive, head.Method == RequestMethod.Head).ConfigureAwait(false);
            return head.KeepAlive;
        }
        if (head.Method == RequestMethod.Other)
        {
            await AnswerAsync(405, "method not allowed: use GET or HEAD\n"u8, head.KeepAlive, allow: true).ConfigureAwait(false);
            return head.KeepAlive;
        }
        var headOnly = head.Method == RequestMethod.Head;
        if (head.Path == RequestPath.Healthz)
        {
            var ok = server.IsHealthy();
            await AnswerAsync(ok ? 200 : 503, ok ? "ok\n"u8 : "unhealthy\n"u8, head.KeepAlive, headOnly).ConfigureAwait(false);
            return head.KeepAlive;
        }

        if (!server.TryRender(out var buffer))
        {
            server.Return(buffer);
            await AnswerAsync(500, "the metrics could not be rendered; see the daemon's log\n"u8, head.KeepAlive, headOnly).ConfigureAwait(false);
            return head.KeepAlive;
        }
        try
        {
            Span<byte> text = stackalloc byte[ResponseBuffer.HeadRoom];
            var n = WriteHead(text, 200, MetricsContentType, buffer.BodyLength, head.KeepAlive, allow: false);
            buffer.PrependHead(text[..n]);
            await SendAsync(buffer.Response(!headOnly)).ConfigureAwait(false);
        }
        finally
        {
            server.Return(buffer);
        }
        return head.KeepAlive;
    }

    private static ReadOnlySpan<byte> MetricsContentType => "text/plain; version=0.0.4; charset=utf-8"u8;

    private Task AnswerAsync(int status, ReadOnlySpan<byte> body, bool keepAlive, bool headOnly = false, bool allow = false)
    {
        var response = new byte[ResponseBuffer.HeadRoom + body.Length];
        var n = WriteHead(response, status, "text/plain; charset=utf-8"u8, body.Length, keepAlive, allow);
        if (!headOnly)
        {
            body.CopyTo(response.AsSpan(n));
            n += body.Length;
        }
        return SendAsync(response.AsMemory(0, n));
    }

    private async Task SendAsync(ReadOnlyMemory<byte> data)
    {
        while (!data.IsEmpty)
        {
            var sent = await socket.SendAsync(data, SocketFlags.None, _cancel.Token).ConfigureAwait(false);
            data = data[sent..];
        }
    }

    private static int WriteHead(Span<byte> into, int status, ReadOnlySpan<byte> contentType, int contentLength, bool keepAlive, bool allow)
    {
        var w = new SpanWriter(into);
        w.Write("HTTP/1.1 "u8);
        w.Write(status);
        w.Write(status switch
        {
            200 => " OK"u8,
            400 => " Bad Request"u8,
            404 => " Not Found"u8,
            405 => " Method Not Allowed"u8,
            413 => " Content Too Large"u8,
            431 => " Request Header Fields Too Large"u8,
            500 => " Internal Server Error"u8,
            503 => " Service Unavailable"u8,
            505 => " HTTP Version Not Supported"u8,
            _ => ""u8,
        });
        w.Write("\r\nContent-Type: "u8);
        w.Write(contentType);
        w.Write("\r\nContent-Length: "u8);
        w.Write(contentLength);
        if (allow)
            w.Write("\r\nAllow: GET, HEAD"u8);
        if (!keepAlive)
            w.Write("\r\nConnection: close"u8);
        w.Write("\r\n\r\n"u8);
        return w.Written;
    }

    /// <summary>
    /// Before closing after an error answer: stop sending (FIN), then read and drop what the peer still sends, for
    /// a moment, so the kernel does not answer unread input with a reset that may destroy our answer in flight.
    /// </summary>
    private async Task LingerAsync()
    {
        try
        {
            socket.Shutdown(SocketShutdown.Send);
            using var linger = new CancellationTokenSource(_limits.LingerTimeout);
            var scratch = ArrayPool<byte>.Shared.Rent(4096);
            try
            {
                var total = 0;
                while (total < _limits.LingerBytes)
                {
                    var read = await socket.ReceiveAsync(scratch, SocketFlags.None, linger.Token).ConfigureAwait(false);
                    if (read == 0)
                        break;
                    total += read;
                }
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(scratch);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
        {
        }
    }

    private ref struct SpanWriter(Span<byte> span)
    {
        private readonly Span<byte> _span = span;

        public int Written { get; private set; }

        public void Write(ReadOnlySpan<byte> bytes)
        {
            bytes.CopyTo(_span[Written..]);
            Written += bytes.Length;
        }

        public void Write(int value)
        {
            value.TryFormat(_span[Written..], out var n, default, CultureInfo.InvariantCulture);
            Written += n;
        }
    }
}
