using System.Buffers;
using Google.Protobuf;
using Grpc.Core;
using MetaGpu.Primitives;
using MetaGpu.Rpc.Http2;

namespace MetaGpu.DevicePlugin;

/// <summary>
/// GetPreferredAllocation as the server reads and writes it: the request's IDs stay UTF-8 bytes in one buffer, the
/// answer is written from the plan's own UTF-8 IDs. The kubelet sends every available ID in each call (800 on a node
/// of 8 GPUs × 100); parsed into strings, they were 125 KB of garbage and the largest part of the call's CPU, and
/// encoding the 400 strings of the answer back the next largest (measured). On the wire nothing changes: the same
/// method, the same messages (v1beta1 PreferredAllocationRequest and PreferredAllocationResponse); clients keep the
/// generated types (<see cref="KubeletApi.GetPreferredAllocation"/>).
/// </summary>
internal static class PreferredAllocationWire
{
    public static readonly Method<KubeletQuery, PreferredAnswer> Method = new(MethodType.Unary, KubeletApi.DevicePluginService,
        "GetPreferredAllocation",
        new Marshaller<KubeletQuery>(static (_, _) => throw new NotSupportedException("a KubeletQuery is only read"),
            static context => KubeletQuery.ParsePreferred(context.PayloadAsReadOnlySequence())),
        WrittenOnly<PreferredAnswer>());

    /// <summary>
    /// The marshaller of an answer written by hand: its size first (the frame's length), then its bytes straight into
    /// the call's buffer. The server only writes answers, so reading one back is not supported.
    /// </summary>
    public static Marshaller<T> WrittenOnly<T>() where T : class, IWrittenAnswer => new(static (answer, context) =>
    {
        var size = answer.CalculateSize();
        context.SetPayloadLength(size);
        var writer = context.GetBufferWriter();
        answer.WriteTo(writer.GetSpan(size)[..size]);
        writer.Advance(size);
        context.Complete();
    }, static _ => throw new NotSupportedException($"a {typeof(T).Name} is only written"));
}

/// <summary>A protobuf message the server writes by hand: <see cref="WriteTo"/> fills exactly the bytes the <see cref="CalculateSize"/> just before it gave.</summary>
internal interface IWrittenAnswer
{
    int CalculateSize();

    void WriteTo(Span<byte> destination);
}

/// <summary>The request's protobuf was not well formed (the same inputs Google.Protobuf refuses; tests compare).</summary>
internal sealed class ProtobufWireException(string message) : Exception(message);

/// <summary>
/// A kubelet request of device IDs read without a string: a PreferredAllocationRequest (<see cref="ParsePreferred"/>:
/// each container's available and must-include IDs and its allocation size) or an AllocateRequest
/// (<see cref="ParseAllocate"/>: each container's device IDs), the IDs as spans of one buffer in the order sent.
/// Protobuf's rules as Google.Protobuf applies them: fields in any order, repeated fields appended, the last
/// allocation size wins, unknown fields (groups included) skipped, malformed input (strings that are not UTF-8
/// included) refused. Dispose gives the buffer back to the pool.
/// </summary>
internal sealed class KubeletQuery : IDisposable
{
    /// <summary>Google.Protobuf's default recursion limit: how deep groups may nest.</summary>
    private const int RecursionLimit = 100;

    private byte[] _bytes;
    private int _disposed;
    private readonly bool _allocate;
    private readonly SpanList _available = new();
    private readonly SpanList _must = new();
    private readonly List<ContainerQuery> _containers = [];

    private KubeletQuery(byte[] bytes, bool allocate)
    {
        _bytes = bytes;
        _allocate = allocate;
    }

    public int ContainerCount => _containers.Count;

    /// <summary>How many device IDs container <paramref name="container"/> of an AllocateRequest lists.</summary>
    public int DeviceIdCount(int container) => AvailableCount(container);

    /// <summary>The <paramref name="i"/>th device ID of a container of an AllocateRequest, as sent.</summary>
    public ReadOnlySpan<byte> DeviceId(int container, int i) => Available(container, i);

    public int AllocationSize(int container) => _containers[container].AllocationSize;

    /// <summary>How many available IDs container <paramref name="container"/> lists.</summary>
    public int AvailableCount(int container) => _containers[container].AvailableCount;

    public int MustIncludeCount(int container) => _containers[container].MustCount;

    /// <summary>The <paramref name="i"/>th available ID of a container, as sent.</summary>
    public ReadOnlySpan<byte> Available(int container, int i) => Bytes(_available, _containers[container].AvailableFirst + i);

    public ReadOnlySpan<byte> MustInclude(int container, int i) => Bytes(_must, _containers[container].MustFirst + i);

    private ReadOnlySpan<byte> Bytes(SpanList list, int i) => _bytes.AsSpan(list.Offset(i), list.Length(i));

    /// <summary>Reads a serialized PreferredAllocationRequest (copied: the payload's buffer is the transport's).</summary>
    public static KubeletQuery ParsePreferred(ReadOnlySequence<byte> payload) => Parse(payload, allocate: false);

    /// <summary><see cref="ParsePreferred(ReadOnlySequence{byte})"/> of bytes in memory.</summary>
    public static KubeletQuery ParsePreferred(byte[] message) => Parse(new ReadOnlySequence<byte>(message), allocate: false);

    /// <summary>
    /// Reads a serialized AllocateRequest: a ContainerAllocateRequest has only <c>repeated string devices_ids = 1</c>,
    /// the field PreferredAllocationRequest's containers have their available IDs in; fields 2 and 3 are unknown here.
    /// </summary>
    public static KubeletQuery ParseAllocate(ReadOnlySequence<byte> payload) => Parse(payload, allocate: true);

    /// <summary><see cref="ParseAllocate(ReadOnlySequence{byte})"/> of bytes in memory.</summary>
    public static KubeletQuery ParseAllocate(byte[] message) => Parse(new ReadOnlySequence<byte>(message), allocate: true);

    private static KubeletQuery Parse(ReadOnlySequence<byte> payload, bool allocate)
    {
        if (payload.Length > Array.MaxLength)
            throw new ProtobufWireException("message too large");
        var length = (int)payload.Length;
        var query = new KubeletQuery(length == 0 ? [] : WireBuffers.Rent(length), allocate);
        // Room for the IDs of a request of IDs like ours (about 60 bytes each, with their tags) in one go.
        query._available.Reserve(length / 64);
        payload.CopyTo(query._bytes);
        try
        {
            query.ReadRequest(length);
        }
        catch
        {
            query.Dispose();
            throw;
        }
        return query;
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;
        var bytes = _bytes;
        _bytes = [];
        if (bytes.Length > 0)
            WireBuffers.Return(bytes);
        _available.Release();
        _must.Release();
    }

    private void ReadRequest(int end)
    {
        var at = 0;
        while (at < end)
        {
            var tag = ReadTag(ref at, end);
            if (tag == Tag(1, WireType.LengthDelimited))
            {
                var length = ReadLength(ref at, end);
                ReadContainer(at, at + length);
                at += length;
            }
            else
            {
                Skip(tag, ref at, end, 0);
            }
        }
    }

    private void ReadContainer(int at, int end)
    {
        var container = new ContainerQuery { AvailableFirst = _available.Count, MustFirst = _must.Count };
        while (at < end)
        {
            var tag = ReadTag(ref at, end);
            if (_allocate && tag != 10)
            {
                Skip(tag, ref at, end, 1); // ContainerAllocateRequest has no field but devices_ids = 1
                continue;
            }
            switch (tag)
            {
                case 10: // repeated string available_deviceIDs = 1 (devices_ids = 1 in an Allocate container)
                case 18: // repeated string must_include_deviceIDs = 2
                {
                    var length = ReadLength(ref at, end);
                    // Google.Protobuf refuses a string field that is not UTF-8; so do we (checked, not decoded).
                    if (!System.Text.Unicode.Utf8.IsValid(_bytes.AsSpan(at, length)))
                        throw new ProtobufWireException("a string field that is not valid UTF-8");
                    (tag == 10 ? _available : _must).Add(at, length);
                    at += length;
                    break;
                }
                case 24: // int32 allocation_size = 3
                    container.AllocationSize = unchecked((int)ReadVarint(ref at, end));
                    break;
                default:
                    Skip(tag, ref at, end, 1);
                    break;
            }
        }
        container.AvailableCount = _available.Count - container.AvailableFirst;
        container.MustCount = _must.Count - container.MustFirst;
        _containers.Add(container);
    }

    private enum WireType : uint
    {
        Varint = 0,
        Fixed64 = 1,
        LengthDelimited = 2,
        StartGroup = 3,
        EndGroup = 4,
        Fixed32 = 5,
    }

    private static uint Tag(int field, WireType type) => (uint)field << 3 | (uint)type;

    /// <summary>A tag: a varint whose bits above 32 are dropped, as protobuf reads it; field number 0 is refused.</summary>
    private uint ReadTag(ref int at, int end)
    {
        var tag = unchecked((uint)ReadVarint(ref at, end));
        if (tag >> 3 == 0)
            throw new ProtobufWireException("a field number of 0 (an invalid tag)");
        return tag;
    }

    private ulong ReadVarint(ref int at, int end)
    {
        ulong value = 0;
        for (var shift = 0; shift < 64; shift += 7)
        {
            if (at >= end)
                throw new ProtobufWireException("the message ends inside a varint");
            var b = _bytes[at++];
            value |= (ulong)(b & 0x7F) << shift;
            if (b < 0x80)
                return value;
        }
        throw new ProtobufWireException("a varint longer than 10 bytes");
    }

    /// <summary>A length: a varint taken to 32 bits, not negative, within what is left of the enclosing message.</summary>
    private int ReadLength(ref int at, int end)
    {
        var length = unchecked((int)ReadVarint(ref at, end));
        if (length < 0)
            throw new ProtobufWireException("a negative length");
        if (length > end - at)
            throw new ProtobufWireException("a field runs past the end of its message");
        return length;
    }

    private void Advance(ref int at, int end, int count)
    {
        if (count > end - at)
            throw new ProtobufWireException("a field runs past the end of its message");
        at += count;
    }

    /// <summary>Skips the field just tagged <paramref name="tag"/>; <paramref name="depth"/> is the message's nesting.</summary>
    private void Skip(uint tag, ref int at, int end, int depth)
    {
        switch ((WireType)(tag & 7))
        {
            case WireType.Varint:
                ReadVarint(ref at, end);
                break;
            case WireType.Fixed64:
                Advance(ref at, end, 8);
                break;
            case WireType.LengthDelimited:
                Advance(ref at, end, ReadLength(ref at, end));
                break;
            case WireType.Fixed32:
                Advance(ref at, end, 4);
                break;
            case WireType.StartGroup:
                if (depth >= RecursionLimit)
                    throw new ProtobufWireException("groups nested deeper than the recursion limit");
                while (true)
                {
                    if (at >= end)
                        throw new ProtobufWireException("a group without its end");
                    var inner = ReadTag(ref at, end);
                    if ((WireType)(inner & 7) == WireType.EndGroup)
                    {
                        if (inner >> 3 != tag >> 3)
                            throw new ProtobufWireException("a group ended by another group's end tag");
                        break;
                    }
                    Skip(inner, ref at, end, depth + 1);
                }
                break;
            case WireType.EndGroup:
                throw new ProtobufWireException("an end-group tag without its start");
            default:
                throw new ProtobufWireException($"an invalid wire type {tag & 7}");
        }
    }

    private sealed class ContainerQuery
    {
        public int AvailableFirst, AvailableCount, MustFirst, MustCount, AllocationSize;
    }

    /// <summary>
    /// (offset, length) pairs in one growing array from <see cref="CappedPool{T}"/> (the kubelet's 800-ID
    /// GetPreferredAllocation needs 1,600 ints): a request's pairs were about 17 KB of garbage per call, most of what a
    /// GetPreferredAllocation allocated.
    /// </summary>
    private sealed class SpanList
    {
        private int[] _pairs = [];

        public int Count { get; private set; }

        public int Offset(int i) => _pairs[2 * i];

        public int Length(int i) => _pairs[2 * i + 1];

        public void Reserve(int pairs)
        {
            if (pairs > _pairs.Length / 2)
                Grow(2 * pairs);
        }

        public void Add(int offset, int length)
        {
            if (2 * Count == _pairs.Length)
                Grow(Math.Max(64, _pairs.Length * 2));
            _pairs[2 * Count] = offset;
            _pairs[2 * Count + 1] = length;
            Count++;
        }

        private void Grow(int length)
        {
            var grown = CappedPool<int>.Rent(length);
            _pairs.AsSpan(0, 2 * Count).CopyTo(grown);
            CappedPool<int>.Return(_pairs);
            _pairs = grown;
        }

        /// <summary>Gives the array back; the list is empty afterwards.</summary>
        public void Release()
        {
            var pairs = _pairs;
            _pairs = [];
            Count = 0;
            CappedPool<int>.Return(pairs);
        }
    }
}

/// <summary>
/// One container's device IDs of an AllocateRequest read by <see cref="KubeletQuery.ParseAllocate(ReadOnlySequence{byte})"/>,
/// looked up as the bytes sent. Only an error makes one text, of a bounded prefix: an error shows no more than
/// <see cref="MetaDeviceId.MaxLength"/> characters of an ID, however long the peer made it.
/// </summary>
internal readonly struct AllocateIds(KubeletQuery query, int container) : AllocationPolicy.IDeviceIds
{
    public int Count => query.DeviceIdCount(container);

    public bool TryFind(PlanIndex index, int i, out int order, out int share) => index.TryFind(query.DeviceId(container, i), out order, out share);

    public string TextOf(int i)
    {
        var id = query.DeviceId(container, i);
        // At most 4 bytes a character: this prefix holds more characters than an error shows.
        return System.Text.Encoding.UTF8.GetString(id[..Math.Min(id.Length, 4 * MetaDeviceId.MaxLength + 4)]);
    }
}

/// <summary>
/// A PreferredAllocationResponse of plan positions: each container's answer as the positions of the plan's IDs, in
/// the answer's order, written as the IDs' UTF-8 bytes from the plan (<see cref="PlanIndex.Utf8At"/>), byte for byte
/// what Google.Protobuf writes for the same response (tests compare).
/// </summary>
internal sealed class PreferredAnswer(PlanIndex index) : IWrittenAnswer
{
    private readonly List<List<int>> _containers = [];

    /// <summary>Each container's encoded size, from <see cref="CalculateSize"/> for <see cref="WriteTo"/>.</summary>
    private int[] _sizes = [];

    public PlanIndex Index { get; } = index;

    public int ContainerCount => _containers.Count;

    public void Add(List<int> positions) => _containers.Add(positions);

    public int CalculateSize()
    {
        _sizes = new int[_containers.Count];
        var size = 0;
        for (var c = 0; c < _containers.Count; c++)
        {
            var inner = 0;
            foreach (var p in _containers[c])
                inner += 1 + CodedOutputStream.ComputeLengthSize(Index.Utf8At(p).Length) + Index.Utf8At(p).Length;
            _sizes[c] = inner;
            size += 1 + CodedOutputStream.ComputeLengthSize(inner) + inner;
        }
        return size;
    }

    /// <summary>Writes the response into exactly the bytes <see cref="CalculateSize"/>, called just before, gave.</summary>
    public void WriteTo(Span<byte> destination)
    {
        var at = 0;
        for (var c = 0; c < _containers.Count; c++)
        {
            // repeated ContainerPreferredAllocationResponse container_responses = 1, of repeated string deviceIDs = 1
            at += ProtobufVarint.WriteField1Header(destination[at..], _sizes[c]);
            foreach (var p in _containers[c])
                at += ProtobufVarint.WriteField1(destination[at..], Index.Utf8At(p));
        }
        if (at != destination.Length)
            throw new InvalidOperationException($"wrote {at} bytes of a {destination.Length}-byte answer");
    }

    /// <summary>The same response as the generated message, for callers of the generated service method.</summary>
    public Proto.DevicePlugin.V1Beta1.PreferredAllocationResponse ToResponse()
    {
        var response = new Proto.DevicePlugin.V1Beta1.PreferredAllocationResponse();
        foreach (var c in _containers)
        {
            var answer = new Proto.DevicePlugin.V1Beta1.ContainerPreferredAllocationResponse();
            foreach (var p in c)
                answer.DeviceIDs.Add(Index.IdAt(p));
            response.ContainerResponses.Add(answer);
        }
        return response;
    }

}

/// <summary>
/// Allocate as the server answers it: each container's ContainerAllocateResponse already serialized. A container's
/// answer is a function of its allocation record (the plan and the set of meta-devices), the device-list strategy
/// and mgctl's mounts, so the plugin serializes it once per record and sends the same bytes for every repeat (the
/// kubelet repeats Allocate for the same devices when a pod's containers restart); building its ten environment
/// variables, the list of 30 IDs and the mounts each time was most of the handler's own work (measured). The request
/// is read as bytes (<see cref="KubeletQuery.ParseAllocate(ReadOnlySequence{byte})"/>): its IDs are looked up as sent,
/// never made strings.
/// </summary>
internal sealed class AllocateAnswer : IWrittenAnswer
{
    public static readonly Method<KubeletQuery, AllocateAnswer> Method = new(MethodType.Unary,
        KubeletApi.DevicePluginService, "Allocate",
        new Marshaller<KubeletQuery>(static (_, _) => throw new NotSupportedException("a KubeletQuery is only read"),
            static context => KubeletQuery.ParseAllocate(context.PayloadAsReadOnlySequence())),
        PreferredAllocationWire.WrittenOnly<AllocateAnswer>());

    private readonly List<byte[]> _containers = [];

    /// <summary>Adds one container's serialized ContainerAllocateResponse.</summary>
    public void Add(byte[] container) => _containers.Add(container);

    public int CalculateSize()
    {
        var size = 0;
        foreach (var c in _containers)
            size += 1 + CodedOutputStream.ComputeLengthSize(c.Length) + c.Length;
        return size;
    }

    /// <summary>Writes the AllocateResponse (repeated ContainerAllocateResponse container_responses = 1) into exactly <see cref="CalculateSize"/> bytes.</summary>
    public void WriteTo(Span<byte> destination)
    {
        var at = 0;
        foreach (var c in _containers)
        {
            at += ProtobufVarint.WriteField1(destination[at..], c);
        }
        if (at != destination.Length)
            throw new InvalidOperationException($"wrote {at} bytes of a {destination.Length}-byte answer");
    }

    /// <summary>The same response as the generated message, for callers of the generated service method.</summary>
    public Proto.DevicePlugin.V1Beta1.AllocateResponse ToResponse()
    {
        var bytes = new byte[CalculateSize()];
        WriteTo(bytes);
        return Proto.DevicePlugin.V1Beta1.AllocateResponse.Parser.ParseFrom(bytes);
    }
}

/// <summary>
/// Protobuf's base-128 varint, written into a span (Google.Protobuf sizes it, <see cref="CodedOutputStream.ComputeLengthSize"/>,
/// but writes only through its own streams).
/// </summary>
internal static class ProtobufVarint
{
    /// <summary>Field 1's tag as a length-delimited field (every field written here is field 1) and its length.</summary>
    public static int WriteField1Header(Span<byte> destination, int length)
    {
        destination[0] = 10;
        return 1 + Write(destination[1..], (uint)length);
    }

    /// <summary>Field 1, length-delimited, with <paramref name="body"/>.</summary>
    public static int WriteField1(Span<byte> destination, ReadOnlySpan<byte> body)
    {
        var n = WriteField1Header(destination, body.Length);
        body.CopyTo(destination[n..]);
        return n + body.Length;
    }

    public static int Write(Span<byte> destination, uint value)
    {
        var n = 0;
        while (value >= 0x80)
        {
            destination[n++] = (byte)(value | 0x80);
            value >>= 7;
        }
        destination[n++] = (byte)value;
        return n;
    }
}
