namespace MetaGpu.Usage.PodResources;

/// <summary>
/// When the kubelet pushes back (its rate limit, or no answer in time), wait before the next <c>List</c>:
/// 1 s, doubling to 30 s, back to 1 s after an answer. The kubelet limits pod-resources to 100 calls/s (burst 10)
/// for every client together, so a daemon that keeps asking at once would take that budget from the others.
/// </summary>
internal sealed class ListBackoff
{
    public static readonly TimeSpan First = TimeSpan.FromSeconds(1);
    public static readonly TimeSpan Longest = TimeSpan.FromSeconds(30);

    private TimeSpan _next = First;
    private DateTimeOffset _until = DateTimeOffset.MinValue;

    public bool IsWaiting(DateTimeOffset now) => now < _until;

    /// <summary>Starts a wait from <paramref name="now"/> and returns its length.</summary>
    public TimeSpan Fail(DateTimeOffset now)
    {
        var wait = _next;
        _until = now + wait;
        _next = wait * 2 < Longest ? wait * 2 : Longest;
        return wait;
    }

    public void Reset()
    {
        _next = First;
        _until = DateTimeOffset.MinValue;
    }
}
