using System.Diagnostics.CodeAnalysis;
using MetaGpu.Fuzz.Targets;

namespace MetaGpu.Fuzz;

/// <summary>The targets by name; fuzz/corpus/NAME holds each one's seeds.</summary>
internal static class FuzzTargets
{
    private static readonly Dictionary<string, Func<IFuzzTarget>> All = new(StringComparer.Ordinal)
    {
        ["http2"] = () => new Http2FrameTarget(),
        ["hpack"] = () => new HpackTarget(),
        ["grpc"] = () => new GrpcFramingTarget(),
        ["rpc-options"] = () => new PluginRpcTarget(PluginRpcTarget.GetDevicePluginOptions),
        ["rpc-listandwatch"] = () => new PluginRpcTarget(PluginRpcTarget.ListAndWatch),
        ["rpc-preferred"] = () => new PluginRpcTarget(PluginRpcTarget.GetPreferredAllocation),
        ["rpc-allocate"] = () => new PluginRpcTarget(PluginRpcTarget.Allocate),
        ["rpc-prestart"] = () => new PluginRpcTarget(PluginRpcTarget.PreStartContainer),
        ["config"] = () => new ConfigTarget(),
        ["mountinfo"] = () => new MountInfoTarget(),
        ["cgroup"] = () => new CgroupTarget(),
        ["stat"] = () => new StatTarget(),
        ["status"] = () => new StatusTarget(),
    };

    public static IEnumerable<string> Names => All.Keys;

    public static bool TryCreate(string name, [NotNullWhen(true)] out IFuzzTarget? target)
    {
        target = All.TryGetValue(name, out var create) ? create() : null;
        return target is not null;
    }
}
