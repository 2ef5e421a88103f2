namespace MetaGpu.Primitives;

/// <summary>Waiting for something that should come first, but not for ever.</summary>
public static class Deferral
{
    /// <summary>
    /// Done when <paramref name="first"/> is (null: at once), when <paramref name="atTheLatest"/> has passed, or when
    /// <paramref name="stop"/> is cancelled, whichever comes first; never throws. The timer is released at once.
    /// </summary>
    public static async Task UntilAsync(Task? first, TimeSpan atTheLatest, CancellationToken stop)
    {
        if (first is null || first.IsCompleted)
            return;
        using var timer = CancellationTokenSource.CreateLinkedTokenSource(stop);
        await Task.WhenAny(first, Task.Delay(atTheLatest, timer.Token)).ConfigureAwait(false);
        await timer.CancelAsync().ConfigureAwait(false);
    }
}
