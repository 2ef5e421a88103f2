using System.Text;
using Google.Protobuf;
using MetaGpu.DevicePlugin;
using MetaGpu.Proto.DevicePlugin.V1Beta1;
using static MetaGpu.Tests.DevicePlugin.AllocationTestSupport;

namespace MetaGpu.Tests.DevicePlugin;

/// <summary>
/// GetPreferredAllocation read and written without strings (<see cref="KubeletQuery"/>, <see cref="PreferredAnswer"/>),
/// compared with Google.Protobuf, which the kubelet's messages are otherwise read with: the same messages accepted,
/// the same content read from them, the same bytes written.
/// </summary>
public sealed class PreferredAllocationWireTests
{
    /// <summary>What Google.Protobuf reads from a request, and what ours reads, in one comparable form.</summary>
    private static string Describe(PreferredAllocationRequest request) =>
        string.Join(" | ", request.ContainerRequests.Select(c =>
            $"size={c.AllocationSize} available=[{string.Join(",", c.AvailableDeviceIDs)}] must=[{string.Join(",", c.MustIncludeDeviceIDs)}]"));

    private static string Describe(KubeletQuery query) =>
        string.Join(" | ", Enumerable.Range(0, query.ContainerCount).Select(c =>
            $"size={query.AllocationSize(c)} " +
            $"available=[{string.Join(",", Enumerable.Range(0, query.AvailableCount(c)).Select(i => Encoding.UTF8.GetString(query.Available(c, i))))}] " +
            $"must=[{string.Join(",", Enumerable.Range(0, query.MustIncludeCount(c)).Select(i => Encoding.UTF8.GetString(query.MustInclude(c, i))))}]"));

    /// <summary>Google.Protobuf's reading of <paramref name="bytes"/>, or null where it refuses them.</summary>
    private static string? Theirs(byte[] bytes) => ReaderComparison.TextOrRefused(() => Describe(PreferredAllocationRequest.Parser.ParseFrom(bytes)));

    private static string? Ours(byte[] bytes) => ReaderComparison.TextOrRefused(() =>
    {
        using var query = KubeletQuery.ParsePreferred(bytes);
        return Describe(query);
    });

    private static byte[] Field(int number, int wireType, params byte[] body) => [.. Varint((ulong)(number << 3 | wireType)), .. body];

    private static byte[] Varint(ulong value)
    {
        var bytes = new List<byte>();
        while (value >= 0x80)
        {
            bytes.Add((byte)(value | 0x80));
            value >>= 7;
        }
        bytes.Add((byte)value);
        return [.. bytes];
    }

    private static byte[] Delimited(int number, byte[] body) => Field(number, 2, [.. Varint((ulong)body.Length), .. body]);

    private static byte[] Text(int number, string s) => Delimited(number, Encoding.UTF8.GetBytes(s));

    /// <summary>One unknown field of each wire type, a group with a nested group and a field inside.</summary>
    private static readonly byte[] Unknowns =
    [
        .. Field(7, 0, Varint(ulong.MaxValue)), .. Field(8, 1, new byte[8]), .. Delimited(9, [1, 2, 3]), .. Field(10, 5, new byte[4]),
        .. Field(11, 3), .. Field(12, 3), .. Field(1, 0, 5), .. Field(12, 4), .. Text(2, "x"), .. Field(11, 4),
    ];

    public static TheoryData<string, byte[]> WellFormed()
    {
        var data = new TheoryData<string, byte[]>
        {
            { "empty", [] },
            { "one empty container", Delimited(1, []) },
            { "fields in any order, interleaved", Delimited(1, [.. Text(2, "m1"), .. Text(1, "a1"), .. Field(3, 0, 7), .. Text(1, "a2"), .. Text(2, "m2")]) },
            { "the last size wins", Delimited(1, [.. Field(3, 0, 7), .. Field(3, 0, 9)]) },
            { "a negative size (ten bytes)", Delimited(1, Field(3, 0, Varint(unchecked((ulong)-5L)))) },
            { "a size past 32 bits keeps its low bits", Delimited(1, Field(3, 0, Varint(1UL << 32 | 3))) },
            { "unknown fields everywhere", [.. Unknowns, .. Delimited(1, [.. Unknowns, .. Text(1, "a"), .. Unknowns]), .. Unknowns] },
            { "field 1 with another wire type is unknown", [.. Field(1, 0, 1), .. Delimited(1, [.. Field(1, 0, 1), .. Field(3, 2, 0), .. Text(1, "a")])] },
            { "a length as a ten-byte varint", Delimited(1, Field(1, 2, [.. Varint(1UL << 40 | 2), (byte)'a', (byte)'b'])) },
            { "a tag as a ten-byte varint", Delimited(1, [.. Varint(1UL << 40 | 10), 1, (byte)'a']) },
            { "non-ASCII", Delimited(1, [.. Text(1, "gpu-ü"), .. Text(2, "gpu-€-\U0001F600")]) },
            { "invalid UTF-8 in an unknown field", Delimited(1, [.. Field(9, 2, 3, 0xff, 0xfe, (byte)'a'), .. Text(1, "a")]) },
            { "two containers", [.. Delimited(1, Text(1, "a")), .. Delimited(1, Text(2, "b"))] },
        };
        var request = new PreferredAllocationRequest();
        for (var c = 0; c < 3; c++)
        {
            var container = new ContainerPreferredAllocationRequest { AllocationSize = 30 * c };
            container.AvailableDeviceIDs.Add(Enumerable.Range(0, 300).Select(i => $"cnvrg-meta-{c}-{i}-GPU-{c:x8}"));
            container.MustIncludeDeviceIDs.Add(Enumerable.Range(0, c).Select(i => $"cnvrg-meta-{c}-{i}-GPU-{c:x8}"));
            request.ContainerRequests.Add(container);
        }
        data.Add("generated, three containers of 300", request.ToByteArray());
        return data;
    }

    [Theory]
    [MemberData(nameof(WellFormed))]
    public void ReadsWhatGoogleProtobufReads(string name, byte[] bytes)
    {
        var theirs = Theirs(bytes);
        Assert.True(theirs is not null, $"{name}: Google.Protobuf refuses the sample itself");
        Assert.Equal(theirs, Ours(bytes));
    }

    public static TheoryData<string, byte[]> Malformed() => new()
    {
        { "a varint cut short", [0x0A, 0x80] },
        { "an available ID that is not UTF-8", Delimited(1, Field(1, 2, 3, 0xff, 0xfe, (byte)'a')) },
        { "a must-include ID that is a lone surrogate in UTF-8", Delimited(1, Field(2, 2, 3, 0xed, 0xa0, 0x80)) },
        { "a varint of 11 bytes", [0x08, .. Enumerable.Repeat((byte)0x80, 10), 0x01] },
        { "a container longer than the message", [0x0A, 0x05, 0x0A, 0x00] },
        { "a string longer than its container", [0x0A, 0x02, 0x0A, 0x05, (byte)'a', (byte)'b', (byte)'c', (byte)'d', (byte)'e'] },
        { "a negative length", Field(1, 2, Varint(unchecked((ulong)-1L))) },
        { "field number 0", [0x00] },
        { "field number 0 in a container", Delimited(1, [0x02, 0x00]) },
        { "wire type 6", Field(9, 6) },
        { "wire type 7 in a container", Delimited(1, Field(9, 7)) },
        { "an end group without its start", Field(9, 4) },
        { "a group never ended", Field(9, 3, Field(1, 0, 1)) },
        { "a group ended by another's end", [.. Field(9, 3), .. Field(10, 4)] },
        { "a fixed64 cut short", Field(9, 1, 1, 2, 3) },
        { "a fixed32 cut short in a container", Delimited(1, Field(9, 5, 1, 2)) },
        { "groups nested past the recursion limit", [.. Enumerable.Range(0, 101).SelectMany(_ => Field(9, 3)), .. Enumerable.Range(0, 101).SelectMany(_ => Field(9, 4))] },
    };

    [Theory]
    [MemberData(nameof(Malformed))]
    public void RefusesWhatGoogleProtobufRefuses(string name, byte[] bytes)
    {
        Assert.True(Theirs(bytes) is null, $"{name}: Google.Protobuf reads the sample");
        Assert.Throws<ProtobufWireException>(() => KubeletQuery.ParsePreferred(bytes).Dispose());
    }

    [Fact]
    public void GroupsNestedJustWithinTheLimitAreSkipped()
    {
        byte[] bytes = [.. Enumerable.Range(0, 99).SelectMany(_ => Field(9, 3)), .. Enumerable.Range(0, 99).SelectMany(_ => Field(9, 4)), .. Delimited(1, Text(1, "a"))];
        Assert.NotNull(Theirs(bytes));
        Assert.Equal(Theirs(bytes), Ours(bytes));
    }

    /// <summary>
    /// Random damage to real requests (bytes changed, cut, repeated, inserted): wherever Google.Protobuf reads a
    /// message, ours reads the same, and wherever it refuses one, ours refuses it too.
    /// </summary>
    [Fact]
    public void AgreesWithGoogleProtobufOnDamagedRequests()
    {
        var seeds = WellFormed().Select(row => (byte[])row[1]).Where(b => b.Length is > 0 and < 4096).ToList();
        var (disagreements, refused) = ReaderComparison.OnDamaged(seeds, 30_000, 20261202, Theirs, Ours);
        Assert.Empty(disagreements);
        Assert.InRange(refused, 1000, 29_000); // both kinds of input were tried
    }

    [Fact]
    public void WritesTheBytesGoogleProtobufWrites()
    {
        var plan = Plan(3, 100);
        var index = PlanIndex.Of(plan);
        var answer = new PreferredAnswer(index);
        answer.Add([]);
        answer.Add([0, 1, 2, 150, 299]);
        answer.Add([.. Enumerable.Range(0, 300)]); // a container of more than 16 KiB: a three-byte length
        var bytes = new byte[answer.CalculateSize()];
        answer.WriteTo(bytes);
        var expected = answer.ToResponse().ToByteArray();
        Assert.Equal(expected, bytes);
        Assert.Equal(index.IdAt(150), PreferredAllocationResponse.Parser.ParseFrom(bytes).ContainerResponses[1].DeviceIDs[3]);
    }

    [Fact]
    public async Task ServesTheAnswerOfThePolicyForTheSameStrings()
    {
        using var node = new MetaGpu.Tests.Support.SimulatedPlugin("4");
        var plugin = node.Plugin;
        var plan = node.Plan;
        var all = PlanIndex.Of(plan).Ids.SelectMany(x => x).ToList();
        var available = all.Where((_, i) => i % 3 != 0).ToList();
        var must = available.Skip(150).Take(5).ToList();
        var container = new ContainerPreferredAllocationRequest { AllocationSize = 70 };
        container.AvailableDeviceIDs.Add(available);
        container.MustIncludeDeviceIDs.Add(must);
        container.AvailableDeviceIDs.Add("not-ours"); // left out of the answer
        var request = new PreferredAllocationRequest { ContainerRequests = { container } };

        using var query = KubeletQuery.ParsePreferred(request.ToByteArray());
        var answer = await plugin.GetPreferredAllocation(query, null!);
        var expected = AllocationPolicy.Preferred(plan, available, must, 70, node.Node.State.Current.Config.Policy);
        Assert.Equal(70, expected.Count);
        Assert.Equal(expected, answer.ToResponse().ContainerResponses.Single().DeviceIDs);
        Assert.Equal(expected, (await plugin.GetPreferredAllocation(request, null!)).ContainerResponses.Single().DeviceIDs);
    }

    [Fact]
    public void PlanIndexFindsEveryAdvertisedIdByItsBytesAndNothingElse()
    {
        var plan = Plan(3, 100);
        var index = PlanIndex.Of(plan);
        for (var order = 0; order < index.Gpus.Length; order++)
        {
            for (var share = 0; share < index.Ids[order].Length; share++)
            {
                var id = index.Ids[order][share];
                Assert.True(index.TryFind(Encoding.UTF8.GetBytes(id), out var o, out var s));
                Assert.Equal((order, share), (o, s));
                Assert.True(index.TryFind(id, out o, out s));
                Assert.Equal((order, share), (o, s));
                Assert.Equal(id, Encoding.UTF8.GetString(index.Utf8At(index.PositionOf(order, share))));
            }
        }
        var some = index.Ids[1][42];
        foreach (var near in new[] { some + "0", some[..^1], some.ToUpperInvariant(), " " + some, some.Replace("-42-", "-042-"), "", "cnvrg-meta-" })
        {
            Assert.False(index.TryFind(Encoding.UTF8.GetBytes(near), out _, out _), near);
            Assert.False(index.TryFind(near, out _, out _), near);
        }
        Assert.False(index.TryFind((string?)null, out _, out _));
        Assert.False(index.TryFind(new string('x', 5000), out _, out _)); // longer than the stack buffer
    }

    [Fact]
    public void AStringThatIsNotUnicodeIsNoAdvertisedId()
    {
        // A UUID the inventory reports with a replacement character: a lone surrogate must not match it.
        var plan = new ResourcePlan(Resource, [new PlannedGpu("GPU-\uFFFD", 0, 4, 0, 80UL << 30)]);
        var index = PlanIndex.Of(plan);
        var advertised = index.Ids[0][1];
        Assert.True(index.TryFind(advertised, out _, out _));
        Assert.False(index.TryFind(advertised.Replace('\uFFFD', '\uD800'), out _, out _));
    }

    [Fact]
    public void ADuplicatedUuidResolvesToItsFirstEntry()
    {
        var plan = new ResourcePlan(Resource, [new PlannedGpu("GPU-a", 0, 4, 0, 80UL << 30), new PlannedGpu("GPU-a", 1, 4, 0, 80UL << 30)]);
        var index = PlanIndex.Of(plan);
        Assert.True(index.TryFind(index.Ids[0][2], out var order, out var share));
        Assert.Equal((0, 2), (order, share));
        Assert.False(index.TryFind(index.Ids[1][2], out _, out _)); // the second entry's IDs are not served
    }

    [Fact]
    public void GpusThatShareAnIndexOrHaveAHugeOneAreFoundLikeAnyOther()
    {
        // Two UUIDs under one index (a broken inventory) and an index past the direct table: the second GPU's IDs
        // are not where their digits point, and the huge index has no slot there, so both take the hash's way.
        var plan = new ResourcePlan(Resource,
            [new PlannedGpu("GPU-a", 3, 4, 0, 80UL << 30), new PlannedGpu("GPU-b", 3, 4, 0, 80UL << 30), new PlannedGpu("GPU-c", 5000, 4, 0, 80UL << 30)]);
        var index = PlanIndex.Of(plan);
        for (var order = 0; order < 3; order++)
        {
            for (var share = 0; share < 4; share++)
            {
                Assert.True(index.TryFind(Encoding.UTF8.GetBytes(index.Ids[order][share]), out var o, out var s), index.Ids[order][share]);
                Assert.Equal((order, share), (o, s));
            }
        }
        Assert.False(index.TryFind("cnvrg-meta-3-4-GPU-a"u8, out _, out _)); // past the GPU's shares
        Assert.False(index.TryFind("cnvrg-meta-3-1-GPU-c"u8, out _, out _)); // a real UUID under another index
    }

    [Fact]
    public void EveryLookupAgreesWithAPlainDictionaryOfTheAdvertisedIds()
    {
        // Random plans with duplicated indices and UUIDs, and IDs bent in the places the digits are read from.
        var random = new Random(20261203);
        for (var trial = 0; trial < 200; trial++)
        {
            var gpus = new List<PlannedGpu>();
            for (var g = random.Next(1, 6); g > 0; g--)
                gpus.Add(new PlannedGpu($"GPU-{random.Next(4)}", random.Next(3) == 0 ? random.Next(2000) : random.Next(4), random.Next(0, 12), 0, 80UL << 30));
            var index = PlanIndex.Of(new ResourcePlan(Resource, gpus));
            var expected = new Dictionary<string, (int, int)>(StringComparer.Ordinal);
            var owners = new HashSet<string>(StringComparer.Ordinal);
            for (var order = 0; order < index.Gpus.Length; order++)
            {
                if (!owners.Add(index.Gpus[order].Uuid))
                    continue;
                for (var share = 0; share < index.Ids[order].Length; share++)
                    expected.TryAdd(index.Ids[order][share], (order, share));
            }
            var asked = new List<string>();
            foreach (var ids in index.Ids)
            {
                foreach (var id in ids)
                {
                    asked.Add(id);
                    asked.Add(id.Replace("-meta-", "-meta-0"));
                    asked.Add(id + "-");
                    asked.Add(id[..^1]);
                }
            }
            for (var i = 0; i < 20; i++)
                asked.Add($"cnvrg-meta-{random.Next(2001)}-{random.Next(13)}-GPU-{random.Next(5)}");
            asked.AddRange(["cnvrg-meta-", "cnvrg-meta-1", "cnvrg-meta-1-", "cnvrg-meta-1-2", "cnvrg-meta-1-2-", "cnvrg-meta-9999999999-1-GPU-1", "cnvrg-meta--1-GPU-1"]);
            foreach (var id in asked)
            {
                var found = index.TryFind(Encoding.UTF8.GetBytes(id), out var o, out var s);
                Assert.Equal(expected.TryGetValue(id, out var where), found);
                if (found)
                    Assert.Equal(where, (o, s));
            }
        }
    }

    [Fact]
    public async Task OneContainerIsAnsweredAtOnceAndSeveralAreWeighedOffTheCallersThread()
    {
        using var node = new MetaGpu.Tests.Support.SimulatedPlugin("4");
        var held = new HeldScheduler();
        var plugin = new MetaGpuDevicePlugin(MetaGpu.Tests.Support.SimulatedPlugin.Resource, node.Node.State, node.Node.Allocations, null, CancellationToken.None)
        {
            WeighingScheduler = held,
        };
        var plan = node.Plan;
        var all = PlanIndex.Of(plan).Ids.SelectMany(x => x).ToList();
        PreferredAllocationRequest Request(int containers)
        {
            var request = new PreferredAllocationRequest();
            for (var c = 0; c < containers; c++)
            {
                var container = new ContainerPreferredAllocationRequest { AllocationSize = 10 + c };
                container.AvailableDeviceIDs.Add(all.Skip(c * 40).Take(40));
                request.ContainerRequests.Add(container);
            }
            return request;
        }

        // One container, the kubelet's case: answered on the caller's thread (the read loop), done when it returns.
        var one = plugin.GetPreferredAllocation(KubeletQuery.ParsePreferred(Request(1).ToByteArray()), null!);
        Assert.True(one.IsCompletedSuccessfully);
        Assert.Empty(held.Queued);

        // Several: handed to the scheduler, not weighed by the caller; each container gets the policy's answer.
        var several = Request(3);
        var pending = plugin.GetPreferredAllocation(KubeletQuery.ParsePreferred(several.ToByteArray()), null!);
        Assert.False(pending.IsCompleted);
        var work = Assert.Single(held.Queued);
        held.Run(work);
        var responses = (await pending).ToResponse().ContainerResponses;
        Assert.Equal(3, responses.Count);
        for (var c = 0; c < 3; c++)
        {
            var expected = AllocationPolicy.Preferred(plan, several.ContainerRequests[c].AvailableDeviceIDs, [], 10 + c, node.Node.State.Current.Config.Policy);
            Assert.Equal(expected, responses[c].DeviceIDs);
        }
    }

    /// <summary>Keeps what is queued until the test runs it.</summary>
    private sealed class HeldScheduler : TaskScheduler
    {
        public List<Task> Queued { get; } = [];

        public void Run(Task task)
        {
            Queued.Remove(task);
            TryExecuteTask(task);
        }

        protected override void QueueTask(Task task) => Queued.Add(task);

        protected override bool TryExecuteTaskInline(Task task, bool taskWasPreviouslyQueued) => false;

        protected override IEnumerable<Task> GetScheduledTasks() => Queued;
    }
}
