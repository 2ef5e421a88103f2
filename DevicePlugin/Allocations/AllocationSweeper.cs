using Microsoft.Extensions.Logging;

namespace MetaGpu.DevicePlugin.Allocations;

/// <summary>
/// Removes allocation files nobody uses any more. A file goes only when its key has been missing from every
/// in-use set passed to <see cref="Sweep"/> for the whole period without a break, and the file itself is older than
/// the period (its mtime, or this process's last write of it): a restarted daemon knows no history, so it waits a
/// full period too, and a file handed out a moment ago is never taken from under its container. The caller passes
/// the keys that pod-resources references together with those mounted by live processes, and skips the sweep when
/// pod-resources could not be asked (an unknown set is not an empty one).
/// </summary>
public sealed class AllocationSweeper(AllocationFiles files, TimeSpan unreferencedFor, TimeProvider time, ILogger? log = null)
{
    public static readonly TimeSpan DefaultUnreferencedFor = TimeSpan.FromMinutes(10);

    /// <summary>When each key was first seen missing from the in-use set, since it last was in it.</summary>
    private readonly Dictionary<string, DateTimeOffset> _absentSince = new(StringComparer.Ordinal);
    private readonly HashSet<string> _failed = new(StringComparer.Ordinal);

    public TimeSpan UnreferencedFor { get; } = unreferencedFor;

    /// <summary>Removes what has been unreferenced long enough and returns the keys it removed.</summary>
    public IReadOnlyList<string> Sweep(IReadOnlySet<string> inUseKeys)
    {
        ArgumentNullException.ThrowIfNull(inUseKeys);
        lock (_absentSince)
        {
            var now = time.GetUtcNow();
            var cutoff = now - UnreferencedFor;
            var present = new HashSet<string>(files.Keys(), StringComparer.Ordinal);
            var removed = new List<string>();
            foreach (var key in present)
            {
                if (inUseKeys.Contains(key))
                {
                    _absentSince.Remove(key);
                    continue;
                }
                if (!_absentSince.TryGetValue(key, out var since))
                {
                    _absentSince[key] = now;
                    continue;
                }
                if (since > cutoff)
                    continue;
                var modified = files.ModifiedAt(key);
                if (modified is null || modified > cutoff)
                    continue;
                try
                {
                    if (files.RemoveUnwritten(key, cutoff))
                    {
                        removed.Add(key);
                        _absentSince.Remove(key);
                    }
                }
                catch (AllocationFileException e)
                {
                    // Once per key: a read-only directory would otherwise repeat this every refresh.
                    if (_failed.Add(key))
                        log?.LogWarning("cannot remove an unused allocation file: {Error}", e.Message);
                }
            }
            // Keys whose files went some other way need no memory (a dictionary's entries may be removed while it is enumerated).
            foreach (var key in _absentSince.Keys)
            {
                if (!present.Contains(key))
                    _absentSince.Remove(key);
            }
            _failed.IntersectWith(present);
            files.ForgetWrites(present, cutoff);
            return removed;
        }
    }
}
