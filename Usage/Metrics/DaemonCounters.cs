using System.Collections.Concurrent;

namespace MetaGpu.Usage.Metrics;

/// <summary>The daemon's own figures for /metrics: kubelet registrations, per-RPC latency, the usage refresh's cost.</summary>
public sealed class DaemonCounters
{
    /// <summary>Plugin RPCs answer in microseconds to milliseconds; a slow one (seconds) stalls pod admission.</summary>
    public static readonly double[] RpcBuckets = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5];

    private readonly ConcurrentDictionary<string, long> _registrations = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<(string Resource, string Method), RpcSeries> _rpc = new();
    private readonly ConcurrentDictionary<string, LabelSet> _resourceLabels = new(StringComparer.Ordinal);

    public Func<TimeSpan> LastRefreshCost { get; set; } = () => TimeSpan.Zero;

    public void Registered(string resource) => _registrations.AddOrUpdate(resource, 1, (_, n) => n + 1);

    /// <summary>One finished plugin call; <paramref name="method"/> is gRPC's <c>/v1beta1.DevicePlugin/Allocate</c>, shown as <c>Allocate</c>.</summary>
    public void RpcFinished(string resource, string method, TimeSpan elapsed)
    {
        var slash = method.LastIndexOf('/');
        var name = slash >= 0 ? method[(slash + 1)..] : method;
        _rpc.GetOrAdd((resource, name), static k => new RpcSeries(k.Resource, k.Method)).Histogram.Observe(elapsed.TotalSeconds);
    }

    /// <summary>Per resource, in order; the labels are made once per resource.</summary>
    public IReadOnlyList<(string Resource, long Count, LabelSet Labels)> Registrations()
    {
        // ToArray and Values are snapshots taken under the dictionary's locks; the keys are unique, so no tie to keep.
        var entries = _registrations.ToArray();
        Array.Sort(entries, static (a, b) => string.CompareOrdinal(a.Key, b.Key));
        var result = new List<(string, long, LabelSet)>(entries.Length);
        foreach (var (resource, count) in entries)
            result.Add((resource, count, _resourceLabels.GetOrAdd(resource, static r => LabelSet.Of([new("resource", r)]))));
        return result;
    }

    public IReadOnlyList<RpcSeries> RpcLatencies()
    {
        var series = new List<RpcSeries>(_rpc.Values);
        series.Sort(static (a, b) =>
        {
            var byResource = string.CompareOrdinal(a.Resource, b.Resource);
            return byResource != 0 ? byResource : string.CompareOrdinal(a.Method, b.Method);
        });
        return series;
    }

    /// <summary>One resource's latency histogram for one method, with its labels made once.</summary>
    public sealed class RpcSeries(string resource, string method)
    {
        public string Resource { get; } = resource;
        public string Method { get; } = method;
        public Histogram Histogram { get; } = new(RpcBuckets);
        public LabelSet Labels { get; } = LabelSet.Of([new("resource", resource), new("method", method)]);
    }
}
