using System.Collections.Concurrent;

namespace MetaGpu.Usage.Metrics;

/// <summary>The daemon's own figures for /metrics: kubelet registrations, per-RPC latency, the usage refresh's cost.</summary>
public sealed class DaemonCounters
{
    /// <summary>Plugin RPCs answer in microseconds to milliseconds; a slow one (seconds) stalls pod admission.</summary>
    public static readonly double[] RpcBuckets = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5];

    private readonly ConcurrentDictionary<string, long> _registrations = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<(string Resource, string Method), Histogram> _rpc = new();

    public Func<TimeSpan> LastRefreshCost { get; set; } = () => TimeSpan.Zero;

    public void Registered(string resource) => _registrations.AddOrUpdate(resource, 1, (_, n) => n + 1);

    /// <summary>One finished plugin call; <paramref name="method"/> is gRPC's <c>/v1beta1.DevicePlugin/Allocate</c>, shown as <c>Allocate</c>.</summary>
    public void RpcFinished(string resource, string method, TimeSpan elapsed)
    {
        var slash = method.LastIndexOf('/');
        var name = slash >= 0 ? method[(slash + 1)..] : method;
        _rpc.GetOrAdd((resource, name), _ => new Histogram(RpcBuckets)).Observe(elapsed.TotalSeconds);
    }

    public IEnumerable<(string Resource, long Count)> Registrations() =>
        _registrations.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => (kv.Key, kv.Value));

    public IEnumerable<(string Resource, string Method, Histogram Histogram)> RpcLatencies() =>
        _rpc.OrderBy(kv => kv.Key.Resource, StringComparer.Ordinal).ThenBy(kv => kv.Key.Method, StringComparer.Ordinal)
            .Select(kv => (kv.Key.Resource, kv.Key.Method, kv.Value));
}
