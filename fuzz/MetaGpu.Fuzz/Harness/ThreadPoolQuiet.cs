namespace MetaGpu.Fuzz;

/// <summary>
/// Lets work queued on the thread pool (request handlers, flushes) run before the target looks at the outcome:
/// marker work items, one after the other, until one finds nothing else queued and nothing else completed since
/// the previous marker. Exact with the single worker fuzz/run gives the server targets; a best effort otherwise.
/// </summary>
internal static class ThreadPoolQuiet
{
    public static void Wait()
    {
        var last = -1L;
        for (var round = 0; round < 200; round++)
        {
            using var ran = new ManualResetEventSlim();
            ThreadPool.UnsafeQueueUserWorkItem(static e => e.Set(), ran, preferLocal: false);
            if (!ran.Wait(TimeSpan.FromSeconds(10)))
                throw new FuzzFinding("the thread pool did not run a work item within 10 s (blocked by a handler?)");
            var completed = ThreadPool.CompletedWorkItemCount;
            if (round > 0 && ThreadPool.PendingWorkItemCount == 0 && completed <= last + 1)
                return;
            last = completed;
        }
    }
}
