using System.Text;
using Google.Protobuf;
using Grpc.Core;
using MetaGpu.DevicePlugin;
using MetaGpu.Proto.DevicePlugin.V1Beta1;

namespace MetaGpu.Tests.DevicePlugin;

/// <summary>
/// Allocate's request read without strings (<see cref="KubeletQuery.ParseAllocate(byte[])"/>), compared with
/// Google.Protobuf's reading of an AllocateRequest: the same messages accepted, the same IDs read. A
/// ContainerAllocateRequest has only field 1, so what a PreferredAllocationRequest's container has in fields 2 and 3
/// is an unknown field here, skipped whatever it holds.
/// </summary>
public sealed class AllocateWireTests
{
    private static string Describe(AllocateRequest request) =>
        string.Join(" | ", request.ContainerRequests.Select(c => $"[{string.Join(",", c.DevicesIds)}]"));

    private static string Describe(KubeletQuery query) =>
        string.Join(" | ", Enumerable.Range(0, query.ContainerCount).Select(c =>
            $"[{string.Join(",", Enumerable.Range(0, query.DeviceIdCount(c)).Select(i => Encoding.UTF8.GetString(query.DeviceId(c, i))))}]"));

    private static string? Theirs(byte[] bytes) => ReaderComparison.TextOrRefused(() => Describe(AllocateRequest.Parser.ParseFrom(bytes)));

    private static string? Ours(byte[] bytes) => ReaderComparison.TextOrRefused(() =>
    {
        using var query = KubeletQuery.ParseAllocate(bytes);
        return Describe(query);
    });

    /// <summary>GetPreferredAllocation's samples, well formed and not, and real AllocateRequests.</summary>
    private static List<(string Name, byte[] Bytes)> Samples()
    {
        var samples = new List<(string, byte[])>();
        foreach (var row in PreferredAllocationWireTests.WellFormed().Concat(PreferredAllocationWireTests.Malformed()))
            samples.Add(((string)row[0], (byte[])row[1]));
        var request = new AllocateRequest();
        for (var c = 0; c < 3; c++)
        {
            var container = new ContainerAllocateRequest();
            container.DevicesIds.Add(Enumerable.Range(0, 30).Select(i => $"cnvrg-meta-{c}-{i}-GPU-{c:x8}"));
            request.ContainerRequests.Add(container);
        }
        samples.Add(("generated, three containers of 30", request.ToByteArray()));
        samples.Add(("one ID, non-ASCII", new AllocateRequest { ContainerRequests = { new ContainerAllocateRequest { DevicesIds = { "gpu-ü-€-\U0001F600" } } } }.ToByteArray()));
        return samples;
    }

    [Fact]
    public void AcceptsAndReadsWhatGoogleProtobufDoes()
    {
        var disagreements = new List<string>();
        var readByBoth = 0;
        foreach (var (name, bytes) in Samples())
        {
            var theirs = Theirs(bytes);
            var ours = Ours(bytes);
            if (theirs != ours)
                disagreements.Add($"{name}: Google.Protobuf {theirs ?? "refuses"}, ours {ours ?? "refuses"}");
            if (theirs is not null)
                readByBoth++;
        }
        Assert.Empty(disagreements);
        Assert.InRange(readByBoth, 10, 40);
    }

    /// <summary>
    /// Field 2 of a container is PreferredAllocationRequest's must-include list, a string field: there a value that is
    /// not UTF-8 is refused. In an AllocateRequest the field is unknown and skipped, as Google.Protobuf skips it.
    /// </summary>
    [Fact]
    public void AContainersFieldTwoIsUnknownInAnAllocateRequest()
    {
        byte[] container = [0x0A, 0x01, (byte)'a', 0x12, 0x03, 0xED, 0xA0, 0x80, 0x18, 0x07];
        byte[] bytes = [0x0A, (byte)container.Length, .. container];
        Assert.Equal("[a]", Theirs(bytes));
        Assert.Equal("[a]", Ours(bytes));
        Assert.Throws<ProtobufWireException>(() => KubeletQuery.ParsePreferred(bytes).Dispose());
    }

    /// <summary>Random damage to real requests: wherever Google.Protobuf reads a message ours reads the same, and refuses what it refuses.</summary>
    [Fact]
    public void AgreesWithGoogleProtobufOnDamagedRequests()
    {
        var seeds = Samples().Select(s => s.Bytes).Where(b => Theirs(b) is not null && b.Length is > 0 and < 4096).ToList();
        var (disagreements, refused) = ReaderComparison.OnDamaged(seeds, 20_000, 20261203, Theirs, Ours);
        Assert.Empty(disagreements);
        Assert.InRange(refused, 500, 19_500);
    }

    /// <summary>
    /// An ID the plan does not have is named in the error by a short prefix only, decoded from the bytes sent: 20,000
    /// characters of two bytes each, and an ID of four-byte characters.
    /// </summary>
    [Fact]
    public async Task AnUnknownIdIsNamedByAShortPrefix()
    {
        using var node = new MetaGpu.Tests.Support.SimulatedPlugin("1");
        const string resource = MetaGpu.Tests.Support.SimulatedPlugin.Resource;
        foreach (var id in new[] { new string('é', 20_000), string.Concat(Enumerable.Repeat("\U0001F600", 5_000)), "not-ours" })
        {
            var request = new AllocateRequest { ContainerRequests = { new ContainerAllocateRequest { DevicesIds = { id } } } };
            var e = await Assert.ThrowsAsync<RpcException>(() => node.Plugin.AllocateServed(KubeletQuery.ParseAllocate(request.ToByteArray()), null!));
            var shown = id.Length <= MetaDeviceId.MaxLength ? id : id[..MetaDeviceId.MaxLength] + "…";
            Assert.Equal((StatusCode.InvalidArgument, $"{resource}: '{shown}' is not a device of {resource}"), (e.StatusCode, e.Status.Detail));
        }
    }
}
