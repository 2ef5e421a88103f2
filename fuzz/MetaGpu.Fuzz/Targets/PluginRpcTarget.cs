using Google.Protobuf;
using Grpc.Core;
using MetaGpu.DevicePlugin;
using MetaGpu.Proto.DevicePlugin.V1Beta1;

namespace MetaGpu.Fuzz.Targets;

/// <summary>
/// One DevicePlugin RPC's entry (DevicePlugin/MetaGpuDevicePlugin.cs): the request parsed with the generated
/// protobuf parser, as the server's marshaller does, then the handler called on a <see cref="SimulatedNode"/>.
/// Input layout: byte 0 picks the node's config (<see cref="SimulatedNode.VariantCount"/> variants), the rest is the
/// serialized request. Refusals are a parse error or an RpcException with a status the caller can act on; an
/// INTERNAL or UNKNOWN status, or any other exception, is a finding (the server would log it as its own bug).
/// </summary>
internal sealed class PluginRpcTarget(string method) : IFuzzTarget
{
    public const string GetDevicePluginOptions = "GetDevicePluginOptions";
    public const string ListAndWatch = "ListAndWatch";
    public const string GetPreferredAllocation = "GetPreferredAllocation";
    public const string Allocate = "Allocate";
    public const string PreStartContainer = "PreStartContainer";

    public static readonly string[] Methods = [GetDevicePluginOptions, ListAndWatch, GetPreferredAllocation, Allocate, PreStartContainer];

    private readonly MetaGpuDevicePlugin?[] _plugins = new MetaGpuDevicePlugin?[SimulatedNode.VariantCount];
    private readonly FindingLogger _log = new();
    private const int FreshStateEvery = 5000;
    private long _runs;
    private MetaGpu.DevicePlugin.Allocations.AllocationFiles? _files;

    public void Run(ReadOnlySpan<byte> input)
    {
        if (input.IsEmpty)
            return;
        var variant = input[0] % SimulatedNode.VariantCount;
        // Allocate writes a file per distinct request: start over with an empty state directory now and then.
        if (++_runs % FreshStateEvery == 0)
        {
            Array.Clear(_plugins);
            _files = FuzzAllocations.Fresh();
        }
        var plugin = _plugins[variant] ??= new MetaGpuDevicePlugin(SimulatedNode.Resource, SimulatedNode.Store(variant), _files ??= FuzzAllocations.Fresh(), _log, CancellationToken.None);
        var body = input[1..];
        try
        {
            switch (method)
            {
                case GetDevicePluginOptions:
                    Empty.Parser.ParseFrom(body);
                    Check(plugin.GetDevicePluginOptions(new Empty(), Context()).GetAwaiter().GetResult());
                    break;
                case ListAndWatch:
                    Empty.Parser.ParseFrom(body);
                    CheckFirstListAndWatch(plugin, variant);
                    break;
                case GetPreferredAllocation:
                    Preferred(plugin, body);
                    break;
                case Allocate:
                    AllocateAsServed(plugin, body);
                    break;
                case PreStartContainer:
                    plugin.PreStartContainer(PreStartContainerRequest.Parser.ParseFrom(body), Context()).GetAwaiter().GetResult();
                    break;
                default:
                    throw new InvalidOperationException($"no such method {method}");
            }
        }
        catch (InvalidProtocolBufferException)
        {
            // The server answers INTERNAL "failed to deserialize message" and goes on.
        }
        catch (RpcException e) when (e.StatusCode is not (StatusCode.Internal or StatusCode.Unknown))
        {
        }
        _log.ThrowIfAny();
    }

    /// <summary>
    /// GetPreferredAllocation as the server reads it (<see cref="KubeletQuery"/>, the request's bytes, no strings),
    /// checked against Google.Protobuf: the same inputs refused, the same containers read, and the answer's bytes
    /// Google.Protobuf's own reading of them.
    /// </summary>
    private void Preferred(MetaGpuDevicePlugin plugin, ReadOnlySpan<byte> body)
    {
        if (ReadBoth(body, PreferredAllocationRequest.Parser, KubeletQuery.ParsePreferred) is not { } both)
            return;
        var (theirs, query) = both;
        if (query.ContainerCount != theirs.ContainerRequests.Count)
            throw new FuzzFinding($"the server reads {query.ContainerCount} containers, Google.Protobuf {theirs.ContainerRequests.Count}");
        for (var c = 0; c < query.ContainerCount; c++)
        {
            var expected = theirs.ContainerRequests[c];
            if (query.AllocationSize(c) != expected.AllocationSize || query.AvailableCount(c) != expected.AvailableDeviceIDs.Count ||
                query.MustIncludeCount(c) != expected.MustIncludeDeviceIDs.Count)
                throw new FuzzFinding($"container {c}: sizes or counts differ from Google.Protobuf's reading");
            for (var i = 0; i < query.AvailableCount(c); i++)
            {
                if (!query.Available(c, i).SequenceEqual(System.Text.Encoding.UTF8.GetBytes(expected.AvailableDeviceIDs[i])))
                    throw new FuzzFinding($"container {c}: available ID {i} differs from Google.Protobuf's reading");
            }
            for (var i = 0; i < query.MustIncludeCount(c); i++)
            {
                if (!query.MustInclude(c, i).SequenceEqual(System.Text.Encoding.UTF8.GetBytes(expected.MustIncludeDeviceIDs[i])))
                    throw new FuzzFinding($"container {c}: must-include ID {i} differs from Google.Protobuf's reading");
            }
        }
        var answer = plugin.GetPreferredAllocation(query, Context()).GetAwaiter().GetResult();
        if (answer.ContainerCount != theirs.ContainerRequests.Count)
            throw new FuzzFinding($"{theirs.ContainerRequests.Count} container requests got {answer.ContainerCount} answers");
        var bytes = new byte[answer.CalculateSize()];
        answer.WriteTo(bytes);
        var read = PreferredAllocationResponse.Parser.ParseFrom(bytes);
        if (!read.Equals(answer.ToResponse()))
            throw new FuzzFinding("the answer's bytes do not read back as the answer");
    }

    /// <summary>
    /// Allocate as the server reads it (<see cref="KubeletQuery.ParseAllocate(byte[])"/>, the request's bytes), checked
    /// against Google.Protobuf's reading: the same inputs refused, the same IDs read; then the handler, whose answer
    /// must read back with one response per container.
    /// </summary>
    private void AllocateAsServed(MetaGpuDevicePlugin plugin, ReadOnlySpan<byte> body)
    {
        if (ReadBoth(body, AllocateRequest.Parser, KubeletQuery.ParseAllocate) is not { } both)
            return;
        var (theirs, query) = both;
        if (query.ContainerCount != theirs.ContainerRequests.Count)
        {
            query.Dispose();
            throw new FuzzFinding($"the server reads {query.ContainerCount} containers, Google.Protobuf {theirs.ContainerRequests.Count}");
        }
        for (var c = 0; c < query.ContainerCount; c++)
        {
            var expected = theirs.ContainerRequests[c].DevicesIds;
            var same = query.DeviceIdCount(c) == expected.Count;
            for (var i = 0; same && i < expected.Count; i++)
                same = query.DeviceId(c, i).SequenceEqual(System.Text.Encoding.UTF8.GetBytes(expected[i]));
            if (!same)
            {
                query.Dispose();
                throw new FuzzFinding($"container {c}: the device IDs differ from Google.Protobuf's reading");
            }
        }
        var answer = plugin.AllocateServed(query, Context()).GetAwaiter().GetResult();
        var bytes = new byte[answer.CalculateSize()];
        answer.WriteTo(bytes);
        var response = AllocateResponse.Parser.ParseFrom(bytes);
        if (response.ContainerResponses.Count != theirs.ContainerRequests.Count)
            throw new FuzzFinding($"{theirs.ContainerRequests.Count} container requests got {response.ContainerResponses.Count} answers");
    }

    /// <summary>
    /// The request read by Google.Protobuf and by the server's own reader: both, or null where both refuse it. One
    /// refusing what the other reads is a finding.
    /// </summary>
    private static (T Theirs, KubeletQuery Ours)? ReadBoth<T>(ReadOnlySpan<byte> body, MessageParser<T> parser, Func<byte[], KubeletQuery> parse)
        where T : IMessage<T>
    {
        T? theirs;
        try
        {
            theirs = parser.ParseFrom(body);
        }
        catch (InvalidProtocolBufferException)
        {
            theirs = default;
        }
        KubeletQuery query;
        try
        {
            query = parse(body.ToArray());
        }
        catch (ProtobufWireException e)
        {
            if (theirs is not null)
                throw new FuzzFinding($"the server refuses a {typeof(T).Name} Google.Protobuf reads: {e.Message}");
            return null;
        }
        if (theirs is null)
        {
            query.Dispose();
            throw new FuzzFinding($"the server reads a {typeof(T).Name} Google.Protobuf refuses");
        }
        return (theirs, query);
    }

    private FakeCallContext Context(CancellationToken cancellationToken = default) =>
        new("/v1beta1.DevicePlugin/" + method, cancellationToken);

    private static void Check(DevicePluginOptions options)
    {
        if (!options.GetPreferredAllocationAvailable)
            throw new FuzzFinding("GetDevicePluginOptions no longer offers GetPreferredAllocation");
    }

    /// <summary>The first message must list every meta-device of the plan; then the call ends when the client goes.</summary>
    private void CheckFirstListAndWatch(MetaGpuDevicePlugin plugin, int variant)
    {
        using var client = new CancellationTokenSource();
        var writer = new FirstMessageWriter(client);
        var call = plugin.ListAndWatch(new Empty(), writer, Context(client.Token));
        if (!call.Wait(TimeSpan.FromSeconds(10)))
            throw new FuzzFinding("ListAndWatch did not end within 10 s of its client leaving");
        call.GetAwaiter().GetResult();
        var plan = SimulatedNode.Store(variant).Current.Plan.Find(SimulatedNode.Resource)!;
        var expected = plan.Devices().Count();
        if (writer.First is null || writer.First.Devices.Count != expected)
            throw new FuzzFinding($"ListAndWatch's first message lists {writer.First?.Devices.Count.ToString() ?? "nothing"}, the plan has {expected} devices");
    }

    private sealed class FirstMessageWriter(CancellationTokenSource client) : IServerStreamWriter<ListAndWatchResponse>
    {
        public ListAndWatchResponse? First { get; private set; }

        public WriteOptions? WriteOptions { get; set; }

        public Task WriteAsync(ListAndWatchResponse message)
        {
            First ??= message;
            client.Cancel(); // the kubelet has what it needs; it hangs up
            return Task.CompletedTask;
        }

        public Task WriteAsync(ListAndWatchResponse message, CancellationToken cancellationToken) => WriteAsync(message);
    }
}
