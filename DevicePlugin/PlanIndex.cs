using System.Runtime.CompilerServices;
using MetaGpu.DevicePlugin.Allocations;

namespace MetaGpu.DevicePlugin;

/// <summary>
/// What every GetPreferredAllocation and Allocate of one plan needs, computed once per plan instead of per call: the
/// plan's GPUs in canonical (index, then UUID) order, every meta-device ID the plugin advertises mapped to its GPU and
/// share, and those ID strings themselves for the answers. Looking an ID up is one comparison of its UTF-8 bytes
/// with the advertised ID its digits point to (<see cref="DirectPosition"/>), else one hash and one comparison; an
/// ID spelled any other way than advertised is simply not there. The bytes are what the kubelet sends, so
/// GetPreferredAllocation looks up its 800 IDs straight from the request, with no string made for any of them
/// (<see cref="PreferredAllocationWire"/>).
/// </summary>
internal sealed class PlanIndex
{
    private static readonly ConditionalWeakTable<ResourcePlan, PlanIndex> Cache = new();

    /// <summary>Every advertised ID in UTF-8, by position: position p's bytes run from _utf8Start[p] to _utf8Start[p + 1].</summary>
    private readonly byte[] _utf8;

    private readonly int[] _utf8Start;

    /// <summary>The GPU (order) of each position.</summary>
    private readonly int[] _orderAt;

    /// <summary>
    /// Open addressing over the IDs' bytes: position + 1, 0 for an empty slot, at least twice as many slots as IDs (a
    /// power of two), linear probing. The hash is <see cref="HashCode"/>'s, seeded per process, so which IDs collide
    /// cannot be worked out from outside.
    /// </summary>
    private readonly int[] _slots;

    /// <summary>
    /// The order of the GPU an ID's index names, by GPU index: the first GPU with that index whose IDs the table
    /// serves, -1 for none. An ID names its GPU and share in its own digits, so most lookups go straight to the one
    /// position the ID can be and compare the bytes there, with no hash; anything else (an index two GPUs share,
    /// an index past this table) takes the table's way, and both ways find the same position.
    /// </summary>
    private readonly int[] _orderOfIndex;

    /// <summary>GPU indices at or past this go the table's way: a plan of sparse, huge indices costs no big array.</summary>
    private const int MaxDirectIndex = 1024;

    private PlanIndex(ResourcePlan plan)
    {
        ArgumentNullException.ThrowIfNull(plan.Gpus);
        var ordered = new List<PlannedGpu>(plan.Gpus);
        // Stable, like the OrderBy it replaces: two entries with one index and one UUID (a broken plan) keep their order.
        Primitives.StableSort.Sort(ordered, static (a, b) =>
        {
            var c = a.Index.CompareTo(b.Index);
            return c != 0 ? c : string.CompareOrdinal(a.Uuid, b.Uuid);
        });
        Gpus = [.. ordered];
        Ids = new string[Gpus.Length][];
        for (var order = 0; order < Gpus.Length; order++)
        {
            var gpu = Gpus[order];
            var ids = new string[Math.Max(0, gpu.MetaGpus)];
            for (var share = 0; share < ids.Length; share++)
                ids[share] = new MetaDeviceId(gpu.Index, share, gpu.Uuid).ToString();
            Ids[order] = ids;
        }

        var sizes = new List<int>();
        foreach (var g in Gpus)
        {
            if (g.MetaGpus > 0)
                sizes.Add(g.MetaGpus);
        }
        sizes.Sort(static (a, b) => b.CompareTo(a));
        SizesDescending = [.. sizes];

        Offsets = new int[Gpus.Length];
        for (var order = 0; order < Gpus.Length; order++)
        {
            Offsets[order] = Positions;
            Positions += Ids[order].Length;
        }
        _idAt = new string[Positions];
        _orderAt = new int[Positions];
        for (var order = 0; order < Gpus.Length; order++)
        {
            Ids[order].CopyTo(_idAt, Offsets[order]);
            _orderAt.AsSpan(Offsets[order], Ids[order].Length).Fill(order);
        }

        _utf8Start = new int[Positions + 1];
        var bytes = 0;
        for (var position = 0; position < Positions; position++)
        {
            _utf8Start[position] = bytes;
            bytes += System.Text.Encoding.UTF8.GetByteCount(_idAt[position]);
        }
        _utf8Start[Positions] = bytes;
        _utf8 = new byte[bytes];
        for (var position = 0; position < Positions; position++)
            System.Text.Encoding.UTF8.GetBytes(_idAt[position], _utf8.AsSpan(_utf8Start[position]));

        _slots = new int[(int)System.Numerics.BitOperations.RoundUpToPowerOf2((uint)Math.Max(2, Positions * 2))];
        var owners = new HashSet<string>(StringComparer.Ordinal);
        var directIndices = 0;
        foreach (var gpu in Gpus)
        {
            if (gpu.Index >= 0 && gpu.Index < MaxDirectIndex)
                directIndices = Math.Max(directIndices, gpu.Index + 1);
        }
        _orderOfIndex = new int[directIndices];
        _orderOfIndex.AsSpan().Fill(-1);
        for (var order = 0; order < Gpus.Length; order++)
        {
            // A UUID listed twice (a broken plan): its IDs resolve to its lowest-index entry only.
            if (!owners.Add(Gpus[order].Uuid))
                continue;
            for (var share = 0; share < Ids[order].Length; share++)
                TryAddSlot(PositionOf(order, share));
            var index = Gpus[order].Index;
            if (index >= 0 && index < _orderOfIndex.Length && _orderOfIndex[index] < 0)
                _orderOfIndex[index] = order;
        }
    }

    private static int Hash(ReadOnlySpan<byte> utf8)
    {
        var hash = new HashCode();
        hash.AddBytes(utf8);
        return hash.ToHashCode();
    }

    /// <summary>The advertised ID at <paramref name="position"/>, in UTF-8.</summary>
    public ReadOnlySpan<byte> Utf8At(int position) => _utf8.AsSpan(_utf8Start[position], _utf8Start[position + 1] - _utf8Start[position]);

    /// <summary>The advertised ID at <paramref name="position"/>.</summary>
    public string IdAt(int position) => _idAt[position];

    /// <summary>The slot that holds <paramref name="utf8"/>'s position, or the empty slot where it would go.</summary>
    private ref int SlotOf(ReadOnlySpan<byte> utf8)
    {
        var mask = _slots.Length - 1;
        var i = Hash(utf8) & mask;
        while (_slots[i] != 0 && !Utf8At(_slots[i] - 1).SequenceEqual(utf8))
            i = (i + 1) & mask;
        return ref _slots[i];
    }

    /// <summary>Puts a position in the table unless an equal ID is there already (the first one stays).</summary>
    private void TryAddSlot(int position)
    {
        ref var slot = ref SlotOf(Utf8At(position));
        if (slot == 0)
            slot = position + 1;
    }

    /// <summary>Where an ID given in UTF-8 lies, when it is one the plugin advertises (byte for byte).</summary>
    public bool TryFind(ReadOnlySpan<byte> utf8, out int order, out int share)
    {
        var position = DirectPosition(utf8);
        if (position < 0)
            position = SlotOf(utf8) - 1;
        if (position < 0)
        {
            order = share = -1;
            return false;
        }
        order = _orderAt[position];
        share = position - Offsets[order];
        return true;
    }

    /// <summary>
    /// The position <paramref name="utf8"/> names in its own digits (<c>cnvrg-meta-&lt;index&gt;-&lt;share&gt;-…</c>) when the
    /// advertised ID there is these very bytes; -1 otherwise, and the table decides.
    /// </summary>
    private int DirectPosition(ReadOnlySpan<byte> utf8)
    {
        if (!utf8.StartsWith(MetaDeviceId.Utf8Prefix))
            return -1;
        var at = MetaDeviceId.Utf8Prefix.Length;
        if (!Digits(utf8, ref at, out var index) || index >= _orderOfIndex.Length || !Digits(utf8, ref at, out var share))
            return -1;
        var order = _orderOfIndex[index];
        if (order < 0 || share >= Ids[order].Length)
            return -1;
        var position = PositionOf(order, share);
        return Utf8At(position).SequenceEqual(utf8) ? position : -1;
    }

    /// <summary>One to nine decimal digits and the dash after them, from <paramref name="at"/>; moves past the dash.</summary>
    private static bool Digits(ReadOnlySpan<byte> utf8, ref int at, out int value)
    {
        value = 0;
        var start = at;
        while (at < utf8.Length && at - start < 9 && (uint)(utf8[at] - '0') <= 9)
            value = value * 10 + (utf8[at++] - '0');
        if (at == start || at >= utf8.Length || utf8[at] != '-')
            return false;
        at++;
        return true;
    }

    /// <summary>The index of <paramref name="plan"/>, built on first use and kept while the plan is.</summary>
    public static PlanIndex Of(ResourcePlan plan)
    {
        ArgumentNullException.ThrowIfNull(plan);
        return Cache.GetValue(plan, static p => new PlanIndex(p));
    }

    /// <summary>The plan's GPUs in canonical order (GPU index, then UUID); a GPU's place here is its order.</summary>
    public PlannedGpu[] Gpus { get; }

    /// <summary>The advertised ID of each GPU's each share, by order and share index.</summary>
    public string[][] Ids { get; }

    /// <summary>The GPUs' meta-device counts, largest first (zero counts left out).</summary>
    public int[] SizesDescending { get; }

    /// <summary>How many meta-devices the plan has: positions run from 0 to this, exclusive.</summary>
    public int Positions { get; }

    /// <summary>The position of each GPU's share 0, by order.</summary>
    private int[] Offsets { get; }

    /// <summary>One number per advertised meta-device: the GPUs in order, each GPU's shares in order.</summary>
    public int PositionOf(int order, int share) => Offsets[order] + share;

    /// <summary>How many 64-bit words a set of positions takes (see <see cref="Mark"/>).</summary>
    public int PositionWords => (Positions + 63) / 64;

    /// <summary>Marks a meta-device in a set of <see cref="PositionWords"/> words: false when it was marked already.</summary>
    public bool Mark(Span<ulong> marked, int order, int share)
    {
        var position = PositionOf(order, share);
        ref var word = ref marked[position >> 6];
        var bit = 1UL << (position & 63);
        if ((word & bit) != 0)
            return false;
        word |= bit;
        return true;
    }

    /// <summary>
    /// The most allocation records kept per plan; past it the cache starts again empty. A record keeps its answer and
    /// its file's bytes alive with it (about 6 KB in all, measured: 30 IDs), so 128 hold about 0.75 MB; at 512 they
    /// held 3 MB of an edge daemon's memory. 128 is more than the pods a node runs by default (the kubelet's
    /// <c>maxPods</c> is 110), and a set recurs only while it is allocated or is about to be again.
    /// </summary>
    public const int MaxRecords = 128;

    private readonly Dictionary<PositionSet, AllocationRecord> _records = new();

    /// <summary>The advertised ID at each position.</summary>
    private readonly string[] _idAt;

    /// <summary>
    /// The allocation record of the meta-devices at <paramref name="positions"/> (ascending, from
    /// <see cref="AllocationPolicy.Describe(ResourcePlan, IReadOnlyCollection{string}, out int[])"/>): a pure function
    /// of the plan and the set, so it is made once per plan and set. Sets recur as pods come and go, because the
    /// policy's answers are deterministic; the record's SHA-256 key is most of an Allocate's own work. The record's IDs
    /// are the plan's strings, so a cached record keeps no request alive.
    /// </summary>
    public AllocationRecord RecordOf(string resource, int[] positions, AllocationShape shape)
    {
        var key = new PositionSet(positions);
        lock (_records)
        {
            if (_records.TryGetValue(key, out var known) && known.Resource == resource)
                return known;
        }
        var ids = new string[positions.Length];
        for (var i = 0; i < positions.Length; i++)
            ids[i] = _idAt[positions[i]];
        var record = AllocationRecord.Create(resource, ids, shape);
        lock (_records)
        {
            if (_records.Count >= MaxRecords)
                _records.Clear();
            _records[key] = record;
        }
        return record;
    }

    /// <summary>
    /// A set of positions as a dictionary key: compared by value, hashed once. A class, not a struct: a dictionary
    /// keyed by a struct would be native code of its own in the binary, one keyed by a class shares the existing code.
    /// </summary>
    private sealed class PositionSet : IEquatable<PositionSet>
    {
        private readonly int[] _values;
        private readonly int _hash;

        public PositionSet(int[] values)
        {
            _values = values;
            var hash = new HashCode();
            foreach (var v in values)
                hash.Add(v);
            _hash = hash.ToHashCode();
        }

        public bool Equals(PositionSet? other) => other is not null && _values.AsSpan().SequenceEqual(other._values);

        public override bool Equals(object? obj) => obj is PositionSet p && Equals(p);

        public override int GetHashCode() => _hash;
    }

    /// <summary>
    /// Where an ID lies, when it is one the plugin advertises: its UTF-8 bytes looked up. A string that is not valid
    /// UTF-16 (a lone surrogate) is no advertised ID: it is not encoded with a replacement character that could match.
    /// </summary>
    public bool TryFind(string? id, out int order, out int share)
    {
        order = share = -1;
        if (id is null)
            return false;
        const int OnStack = 256;
        var rented = id.Length <= OnStack / 3 ? null : System.Buffers.ArrayPool<byte>.Shared.Rent(id.Length * 3);
        try
        {
            Span<byte> utf8 = rented ?? stackalloc byte[OnStack];
            if (System.Text.Unicode.Utf8.FromUtf16(id, utf8, out _, out var written, replaceInvalidSequences: false) != System.Buffers.OperationStatus.Done)
                return false;
            return TryFind(utf8[..written], out order, out share);
        }
        finally
        {
            if (rented is not null)
                System.Buffers.ArrayPool<byte>.Shared.Return(rented);
        }
    }
}
