using CsCheck;
using MetaGpu.Rpc.Hpack;

namespace MetaGpu.Tests.Hpack;

/// <summary>
/// The encoder and the decoder share the table implementation, so agreeing with each other does not
/// prove it right; here it is checked against a plain list model.
/// </summary>
public class HpackDynamicTableTests
{
    private abstract record Op;

    private sealed record InsertOp(byte[] Name, byte[] Value) : Op;

    private sealed record ResizeOp(int MaxSize) : Op;

    // Re-inserts the current entry at the given index under a new value: the literal-with-indexed-
    // name case, where the name bytes live in the table and may belong to an evicted entry.
    private sealed record InsertWithTableNameOp(int Index, byte[] Value) : Op;

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void MatchesListModel(bool searchable)
    {
        // Few distinct short strings, so the search finds whole and name-only matches often.
        var bytes = Gen.Frequency<byte[]>(
            (4, Gen.OneOf<byte[]>([], [1], [2], [1, 2], [3, 3, 3])),
            (4, Gen.Byte.Array[0, 12]),
            (1, Gen.Byte.Array[0, 200]));
        var op = Gen.Frequency<Op>(
            (10, Gen.Select(bytes, bytes, (n, v) => (Op)new InsertOp(n, v))),
            (3, Gen.Select(Gen.Int[0, 20], bytes, (i, v) => (Op)new InsertWithTableNameOp(i, v))),
            (1, Gen.Int[0, 600].Select(m => (Op)new ResizeOp(m))));

        Gen.Select(Gen.Int[0, 600], op.Array[1, 200]).Sample((initialMax, ops) =>
        {
            var table = new HpackDynamicTable(initialMax, searchable);
            var model = new List<(byte[] Name, byte[] Value)>(); // newest first
            int max = initialMax;
            foreach (Op o in ops)
            {
                switch (o)
                {
                    case InsertOp insert:
                        table.Insert(insert.Name, insert.Value, Hash(insert.Name), Hash(insert.Value));
                        ModelInsert(model, max, insert.Name, insert.Value);
                        break;
                    case InsertWithTableNameOp reuse when model.Count > 0:
                        int index = reuse.Index % model.Count;
                        byte[] name = model[index].Name;
                        table.Insert(table.Name(index), reuse.Value, Hash(name), Hash(reuse.Value));
                        ModelInsert(model, max, name, reuse.Value);
                        break;
                    case ResizeOp resize:
                        max = resize.MaxSize;
                        table.SetMaxSize(max);
                        Evict(model, max);
                        break;
                }

                Assert.Equal(model.Count, table.Count);
                Assert.Equal(SizeOf(model), table.Size);
                Assert.True(table.Size <= max);
                for (int i = 0; i < model.Count; i++)
                {
                    Assert.Equal(model[i].Name, table.Name(i).ToArray());
                    Assert.Equal(model[i].Value, table.Value(i).ToArray());
                }

                if (searchable && o is InsertOp probe)
                {
                    AssertFindsLikeModel(table, model, probe.Name, probe.Value);
                    AssertFindsLikeModel(table, model, probe.Name, [9, 9]);
                    AssertFindsLikeModel(table, model, [7], probe.Value);
                }
            }
        }, iter: 300);
    }

    [Fact]
    public void OversizedEntry_EmptiesTheTable()
    {
        var table = new HpackDynamicTable(100);
        table.Insert("a"u8, "b"u8);
        Assert.Equal(1, table.Count);
        Assert.False(table.Insert(new byte[40], new byte[40]));
        Assert.Equal(0, table.Count);
        Assert.Equal(0, table.Size);
    }

    private static void AssertFindsLikeModel(HpackDynamicTable table, List<(byte[] Name, byte[] Value)> model, byte[] name, byte[] value)
    {
        int expectedField = model.FindIndex(e => e.Name.AsSpan().SequenceEqual(name) && e.Value.AsSpan().SequenceEqual(value));
        int expectedName = model.FindIndex(e => e.Name.AsSpan().SequenceEqual(name));
        int found = table.Find(name, value, Hash(name), Hash(value), out int nameIndex);
        Assert.Equal(expectedField, found);
        if (found < 0)
        {
            Assert.Equal(expectedName, nameIndex);
        }
    }

    private static int Hash(ReadOnlySpan<byte> bytes)
    {
        // Deliberately weak (length and first byte), so unequal strings share hashes and chains.
        return bytes.Length * 31 + (bytes.IsEmpty ? 0 : bytes[0]);
    }

    private static void ModelInsert(List<(byte[] Name, byte[] Value)> model, int max, byte[] name, byte[] value)
    {
        int size = name.Length + value.Length + 32;
        if (size > max)
        {
            model.Clear();
            return;
        }

        Evict(model, max - size);
        model.Insert(0, (name, value));
    }

    private static void Evict(List<(byte[] Name, byte[] Value)> model, int target)
    {
        while (SizeOf(model) > target)
        {
            model.RemoveAt(model.Count - 1);
        }
    }

    private static int SizeOf(List<(byte[] Name, byte[] Value)> model)
    {
        int size = 0;
        foreach ((byte[] name, byte[] value) in model)
        {
            size += name.Length + value.Length + 32;
        }

        return size;
    }
}
