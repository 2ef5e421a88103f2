using System.Globalization;
using System.Text;
using MetaGpu.Usage.Proc;

namespace MetaGpu.Fuzz.Targets;

/// <summary>
/// The mountinfo parser (Usage/Proc/MountInfo.cs) and what is built on it: the state directory's mount
/// (StateDirMount.Locate) and a process's allocation keys (AllocationMounts.FindKeys). The input is the file's bytes.
/// Nothing may throw; beyond that, the entries must survive a round trip (written back with the kernel's escapes
/// and parsed again, they are the same), and every key must be well formed, sorted, distinct, and backed by an
/// entry with the state directory's device and root.
/// </summary>
internal sealed class MountInfoTarget : IFuzzTarget
{
    private static readonly StateDirMount[] States =
    [
        new(254, 0, "/var/lib/metagpu/allocations"),
        new(259, 2, "/var/lib/metagpu/allocations"),
        new(8, 17, "/metagpu/allocations"),
        new(0, 48, "/allocations"),
    ];

    public void Run(ReadOnlySpan<byte> input)
    {
        var entries = MountInfo.Parse(Encoding.UTF8.GetString(input));

        var again = MountInfo.Parse(Write(entries));
        if (!again.SequenceEqual(entries))
            throw new FuzzFinding($"{entries.Count} entries written back with escapes parse as {again.Count} different ones");

        foreach (var state in States)
            CheckKeys(entries, state);
        foreach (var stateDirectory in (ReadOnlySpan<string>)["/var/lib/metagpu", "/a b"])
        {
            if (StateDirMount.Locate(entries, stateDirectory) is { } located)
            {
                if (!entries.Any(e => e.Major == located.Major && e.Minor == located.Minor))
                    throw new FuzzFinding($"StateDirMount.Locate gave {located.Major}:{located.Minor}, a device of no entry");
                // Roots are compared as the kernel writes them (clean); a doubled slash may only come from the input.
                if (!located.AllocationsRoot.EndsWith("/allocations", StringComparison.Ordinal)
                    || (located.AllocationsRoot.Contains("//", StringComparison.Ordinal) && !entries.Any(e => e.Root.TrimEnd('/').Contains("//", StringComparison.Ordinal))))
                    throw new FuzzFinding($"StateDirMount.Locate gave the allocations root '{located.AllocationsRoot}'");
                CheckKeys(entries, located);
            }
        }
    }

    private static void CheckKeys(IReadOnlyList<MountInfoEntry> entries, StateDirMount state)
    {
        var keys = AllocationMounts.FindKeys(entries, state);
        for (var i = 0; i < keys.Count; i++)
        {
            var key = keys[i];
            if (key.Length != 40 || key.Any(c => c is not ((>= '0' and <= '9') or (>= 'a' and <= 'f'))))
                throw new FuzzFinding($"FindKeys gave the malformed key '{key}'");
            if (i > 0 && string.CompareOrdinal(keys[i - 1], key) >= 0)
                throw new FuzzFinding("FindKeys gave keys out of order or twice");
            var root = $"{state.AllocationsRoot}/{key}.json";
            if (!entries.Any(e => e.Major == state.Major && e.Minor == state.Minor && (e.Root == root || e.Root == root + "//deleted")))
                throw new FuzzFinding($"FindKeys gave {key}, which no entry of device {state.Major}:{state.Minor} has as its root");
        }
    }

    /// <summary>The entries as the kernel would print them (the fields the parser keeps).</summary>
    private static string Write(IReadOnlyList<MountInfoEntry> entries)
    {
        var text = new StringBuilder();
        foreach (var e in entries)
        {
            text.Append(CultureInfo.InvariantCulture, $"{e.MountId} {e.ParentId} {e.Major}:{e.Minor} ");
            text.Append(Escape(e.Root)).Append(' ').Append(Escape(e.MountPoint)).Append(" rw - ").Append(e.FsType).Append(' ');
            text.Append(Escape(e.Source)).Append(" rw\n");
        }
        return text.ToString();
    }

    private static string Escape(string path) =>
        path.Replace("\\", "\\134", StringComparison.Ordinal).Replace(" ", "\\040", StringComparison.Ordinal)
            .Replace("\t", "\\011", StringComparison.Ordinal).Replace("\n", "\\012", StringComparison.Ordinal);
}
