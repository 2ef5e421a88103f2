using Grpc.Core;
using MetaGpu.Proto.PodResources.V1;
using MetaGpu.Rpc.Grpc;
using Microsoft.Extensions.Logging;

namespace MetaGpu.Usage.PodResources;

/// <summary>
/// Asks the kubelet's pod-resources v1 service which containers hold which devices, over our own gRPC transport.
/// One <c>List</c> per <see cref="ListAsync"/> at most (none while backing off), on one connection that is reopened
/// when the kubelet restarts. It never throws for the kubelet's sake: every failure becomes a snapshot that says
/// what is known (<see cref="PodResourcesSnapshot.Available"/>, <see cref="PodResourcesSnapshot.Fresh"/>) and one
/// log line per kind of failure, not one per refresh.
/// </summary>
public sealed class PodResourcesClient : IDisposable
{
    /// <summary>The kubelet's socket, as the issue and the kubelet's documentation name it.</summary>
    public const string DefaultSocketPath = "/var/lib/kubelet/pod-resources/kubelet.sock";

    /// <summary>
    /// Largest answer accepted. A container without devices costs about 100 bytes in an answer, a device ID about 60,
    /// so 16 MiB is far beyond a node's pod limit (110 by default, rarely over 500); a larger answer fails with
    /// RESOURCE_EXHAUSTED and is backed off like the rate limit.
    /// </summary>
    public const int MaxAnswerBytes = 16 * 1024 * 1024;

    /// <summary>Deadline of one <c>List</c>, connecting included.</summary>
    public static readonly TimeSpan DefaultCallTimeout = TimeSpan.FromSeconds(5);

    private const string Unreachable = "unreachable";
    private const int LongestDetail = 200;
    private static readonly ListPodResourcesRequest Request = new();

    private readonly ILogger _log;
    private readonly TimeProvider _time;
    private readonly UnixChannel _channel;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly ListBackoff _backoff = new();
    private PodResourcesSnapshot? _lastGood;
    private string? _failure;
    private long _calls;

    public PodResourcesClient(string socketPath, ILogger log, TimeProvider? time = null)
    {
        SocketPath = socketPath;
        _log = log;
        _time = time ?? TimeProvider.System;
        // The transport's own log stays off: a missing kubelet is reported here, once, not per connection attempt.
        _channel = new UnixChannel(socketPath, new UnixChannelOptions
        {
            ConnectTimeout = DefaultCallTimeout,
            MaxReceiveMessageSize = MaxAnswerBytes,
            MaxSendMessageSize = 1024,
        });
    }

    public string SocketPath { get; }

    /// <summary>Deadline of one <c>List</c> (default <see cref="DefaultCallTimeout"/>).</summary>
    public TimeSpan CallTimeout { get; init; } = DefaultCallTimeout;

    /// <summary>How many <c>List</c> calls were sent to the kubelet.</summary>
    public long ListCalls => Interlocked.Read(ref _calls);

    /// <summary>
    /// The kubelet's current answer, or what is known when it cannot give one. Concurrent callers take turns.
    /// Throws only <see cref="OperationCanceledException"/>, when <paramref name="cancellationToken"/> is cancelled.
    /// </summary>
    public async Task<PodResourcesSnapshot> ListAsync(CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_backoff.IsWaiting(_time.GetUtcNow()))
                return Kept();
            Interlocked.Increment(ref _calls);
            ListPodResourcesResponse response;
            try
            {
                response = await _channel.UnaryAsync(PodResourcesMethods.List, Request, new CallOptions(deadline: DateTime.UtcNow + CallTimeout, cancellationToken: cancellationToken))
                    .ConfigureAwait(false);
            }
            catch (Exception e) when (cancellationToken.IsCancellationRequested)
            {
                throw new OperationCanceledException("pod-resources List cancelled", e, cancellationToken);
            }
            catch (RpcException e)
            {
                return Failed(e.Status);
            }
            catch (Exception e)
            {
                return Failed(new Status(StatusCode.Internal, $"{e.GetType().Name}: {e.Message}"));
            }
            var snapshot = new PodResourcesSnapshot(true, true, PodResourcesMapping.Map(response));
            _backoff.Reset();
            if (_failure is { } was)
            {
                if (was == Unreachable)
                    _log.LogInformation("pod-resources: the kubelet answers on {Socket}; containers are named by pod again", SocketPath);
                else
                    _log.LogInformation("pod-resources: List on {Socket} works again", SocketPath);
                _failure = null;
            }
            _lastGood = snapshot;
            return snapshot;
        }
        finally
        {
            _gate.Release();
        }
    }

    private PodResourcesSnapshot Kept() => _lastGood?.AsStale() ?? PodResourcesSnapshot.Unavailable;

    private PodResourcesSnapshot Failed(Status status)
    {
        var detail = Shorten(Reason(status));
        var absent = !File.Exists(SocketPath);
        if (absent || (status.StatusCode == StatusCode.Unavailable && IsConnectFailure(status.Detail)))
        {
            // Nobody answers on the socket: what an earlier kubelet said is no longer known to hold.
            _lastGood = null;
            if (_failure != Unreachable)
            {
                if (absent)
                {
                    _log.LogWarning("pod-resources: no kubelet socket at {Socket}: containers get pod=\"\" labels until it appears. " +
                        "Fix: mount the host's /var/lib/kubelet/pod-resources into the daemon's container (hostPath, same path), " +
                        "or point --pod-resources-socket at the kubelet's pod-resources socket", SocketPath);
                }
                else
                {
                    _log.LogWarning("pod-resources: cannot connect to {Socket} ({Detail}): containers get pod=\"\" labels until the kubelet answers. " +
                        "Fix: check that the kubelet runs and that this is its pod-resources socket " +
                        "(the host's /var/lib/kubelet/pod-resources mounted into the daemon's container)", SocketPath, detail);
                }
            }
            _failure = Unreachable;
            return PodResourcesSnapshot.Unavailable;
        }

        // The kubelet's rate limit, an answer over our limit, or no answer in time: ask again only after a wait.
        TimeSpan? wait = status.StatusCode is StatusCode.ResourceExhausted or StatusCode.DeadlineExceeded
            ? _backoff.Fail(_time.GetUtcNow())
            : null;
        var kind = status.StatusCode.ToString();
        var kept = _lastGood is null ? "no answer yet, so containers get pod=\"\" labels" : "keeping the last answer, marked stale";
        var then = wait is { } w ? $"; next List in {w.TotalSeconds:0.#} s (back-off doubling to {ListBackoff.Longest.TotalSeconds:0} s)" : "";
        if (_failure != kind)
            _log.LogWarning("pod-resources: List on {Socket} failed: {Code}: {Detail}; {Kept}{Then}", SocketPath, status.StatusCode, detail, kept, then);
        else
            _log.LogDebug("pod-resources: List on {Socket} failed again: {Code}: {Detail}{Then}", SocketPath, status.StatusCode, detail, then);
        _failure = kind;
        return Kept();
    }

    /// <summary>What went wrong, without what the log line says already.</summary>
    private string Reason(Status status)
    {
        var detail = status.Detail ?? "";
        var connecting = $"cannot connect to unix:{SocketPath}: ";
        if (detail.StartsWith(connecting, StringComparison.Ordinal))
            return detail[connecting.Length..];
        if (status.StatusCode == StatusCode.DeadlineExceeded && detail == "Deadline Exceeded")
            return $"no answer within {CallTimeout.TotalSeconds:0.#} s";
        return detail;
    }

    /// <summary>The transport's words for "no connection could be made" (see UnixChannel.GetConnectionAsync).</summary>
    private static bool IsConnectFailure(string detail) =>
        detail.StartsWith("cannot connect to unix:", StringComparison.Ordinal)
        || detail.StartsWith("connecting to unix:", StringComparison.Ordinal);

    /// <summary>A peer's message, short and printable: it goes into one log line.</summary>
    private static string Shorten(string? text)
    {
        if (string.IsNullOrEmpty(text))
            return "(no message)";
        var span = text.AsSpan(0, Math.Min(text.Length, LongestDetail));
        return string.Create(span.Length + (text.Length > LongestDetail ? 1 : 0), (text, span.Length), static (dest, s) =>
        {
            for (var i = 0; i < s.Item2; i++)
                dest[i] = char.IsControl(s.text[i]) ? '?' : s.text[i];
            if (dest.Length > s.Item2)
                dest[^1] = '…';
        });
    }

    public void Dispose() => _channel.Dispose();
}
