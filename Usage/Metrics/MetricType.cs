namespace MetaGpu.Usage.Metrics;

/// <summary>The Prometheus types MetaGPU exposes (text format 0.0.4 <c># TYPE</c> values).</summary>
public enum MetricType
{
    Gauge,
    Counter,
    Histogram,
}
