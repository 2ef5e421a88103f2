namespace MetaGpu.DevicePlugin;

/// <summary>
/// What the plugin tells whoever counts (the daemon's metrics): each registration with the kubelet, and each finished
/// call to a resource's socket. Both are called on the plugin's own threads, so they must be cheap and never throw.
/// </summary>
public sealed class PluginEvents
{
    public static readonly PluginEvents None = new();

    /// <summary>A resource registered with the kubelet (again, after a kubelet restart).</summary>
    public Action<string>? Registered { get; init; }

    /// <summary>A call to a resource's socket finished: resource, gRPC method (<c>/v1beta1.DevicePlugin/Allocate</c>), duration.</summary>
    public Action<string, string, TimeSpan>? CallFinished { get; init; }
}
