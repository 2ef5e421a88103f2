namespace MetaGpu.DevicePlugin.Config;

/// <summary>
/// Reloads the config when its file's content changes. It polls the bytes rather than using a FileSystemWatcher
/// because a ConfigMap volume updates by swapping a <c>..data</c> symlink to a new directory, which a watch on the
/// file itself never sees. A change to a valid file calls <c>onChange</c> once; a change to an invalid, unreadable or
/// missing file calls <c>onError</c> once for that content, and the caller keeps the config it has. Whatever goes wrong
/// in one poll is reported (once per distinct error) and the next poll runs: the watcher never ends by itself. Reads go
/// through <see cref="ConfigFile"/>, so a FIFO, a device or a huge file cannot block it or grow the process.
/// </summary>
public sealed class ConfigWatcher : IDisposable
{
    public static readonly TimeSpan DefaultPollInterval = TimeSpan.FromSeconds(2);

    /// <summary>How long Dispose waits for a callback in progress, so none runs after it returns.</summary>
    private static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(5);

    private readonly string _path;
    private readonly Func<string?, SharingConfig> _load;
    private readonly Action<SharingConfig> _onChange;
    private readonly Action<Exception> _onError;
    private readonly TimeSpan _pollInterval;
    private readonly CancellationTokenSource _stop = new();
    private readonly Lock _pollLock = new();
    private readonly Task _loop;
    private FileState _last;
    private int _callbackThread = -1;
    private int _disposed;

    /// <summary>The message of the last poll that failed outside the file's own errors, so it is reported once.</summary>
    private string? _lastFailure;

    /// <param name="path">The config file (for a ConfigMap, the path through the <c>..data</c> symlink).</param>
    /// <param name="load">The caller's loader, called with <paramref name="path"/>, so the overrides are applied again.</param>
    /// <param name="onChange">Called with the new config after a change to a valid file.</param>
    /// <param name="onError">Called once per bad content; exceptions it throws are dropped, the watcher carries on.</param>
    /// <param name="baseline">The file as it was read before the caller loaded the config it started with
    /// (<see cref="FileState.Read"/>); any later edit is then reported, also one made while the caller was starting.
    /// Without it the file is read now, and an edit between the caller's load and now would be taken as the start.</param>
    public ConfigWatcher(string path, Func<string?, SharingConfig> load, Action<SharingConfig> onChange, Action<Exception> onError,
        TimeSpan? pollInterval = null, FileState? baseline = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        _path = path;
        _load = load ?? throw new ArgumentNullException(nameof(load));
        _onChange = onChange ?? throw new ArgumentNullException(nameof(onChange));
        _onError = onError ?? throw new ArgumentNullException(nameof(onError));
        _pollInterval = pollInterval ?? DefaultPollInterval;
        if (_pollInterval <= TimeSpan.Zero)
            throw new ArgumentOutOfRangeException(nameof(pollInterval), _pollInterval, "must be positive");
        // What the caller started with; only later changes are reported.
        _last = baseline ?? FileState.Read(path);
        _loop = Task.Run(RunAsync);
    }

    private async Task RunAsync()
    {
        var token = _stop.Token;
        while (!token.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(_pollInterval, token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            try
            {
                Poll();
                _lastFailure = null;
            }
            catch (Exception e)
            {
                // Poll reports what goes wrong with the file; this is anything else. It is one failed poll, never the
                // end of the watcher, which would leave the config frozen without a word.
                if (e.Message != _lastFailure)
                {
                    _lastFailure = e.Message;
                    Report(new ConfigException(_path, $"checking the config file failed ({e.GetType().Name}: {ConfigText.LibraryMessage(e.Message)}){KeepingSuffix}", e));
                }
            }
        }
    }

    private const string KeepingSuffix = "; keeping the last good config";

    /// <summary>One look at the file (the loop's step; tests call it directly to avoid timing).</summary>
    internal void Poll()
    {
        lock (_pollLock)
        {
            var state = FileState.Read(_path);
            if (state.SameAs(_last))
                return;
            _last = state;

            if (state.Error is { } error)
            {
                Report(error);
                return;
            }
            SharingConfig config;
            try
            {
                config = _load(_path);
            }
            catch (Exception e)
            {
                Report(e);
                return;
            }
            if (_stop.IsCancellationRequested)
                return;
            _callbackThread = Environment.CurrentManagedThreadId;
            try
            {
                _onChange(config);
            }
            catch (Exception e)
            {
                Report(e);
            }
            finally
            {
                _callbackThread = -1;
            }
        }
    }

    private void Report(Exception error)
    {
        if (_stop.IsCancellationRequested)
            return;
        _callbackThread = Environment.CurrentManagedThreadId;
        try
        {
            _onError(error);
        }
        catch
        {
            // Nowhere left to report to; the watcher must keep going for the next change.
        }
        finally
        {
            _callbackThread = -1;
        }
    }

    /// <summary>Stops polling; once it returns no callback runs, unless it was called from inside one.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;
        _stop.Cancel();
        if (_callbackThread == Environment.CurrentManagedThreadId)
            return;
        _loop.Wait(StopTimeout);
        _stop.Dispose();
    }

    /// <summary>
    /// The file's bytes, or why there are none. Config files are small (at most <see cref="ConfigLimits.MaxFileBytes"/>
    /// are read), so the bytes themselves are compared.
    /// </summary>
    /// <summary>A config file's bytes, or why they could not be read.</summary>
    public sealed class FileState(byte[]? content, Exception? error)
    {
        public byte[]? Content { get; } = content;

        public Exception? Error { get; } = error;

        public static FileState Read(string path)
        {
            try
            {
                return ConfigFile.TryRead(path, out var bytes, out var problem)
                    ? new FileState(bytes, null)
                    : new FileState(null, new ConfigException(path, problem + KeepingSuffix));
            }
            catch (Exception e)
            {
                return new FileState(null, new ConfigException(path, $"cannot read the config file ({e.GetType().Name}){KeepingSuffix}", e));
            }
        }

        public bool SameAs(FileState other) =>
            Content is not null && other.Content is not null
                ? Content.AsSpan().SequenceEqual(other.Content)
                : Content is null && other.Content is null && Error?.Message == other.Error?.Message;
    }
}
