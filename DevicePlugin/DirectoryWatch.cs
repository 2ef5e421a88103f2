using System.Runtime.InteropServices;
using MetaGpu.DevicePlugin.Allocations;

namespace MetaGpu.DevicePlugin;

/// <summary>
/// Tells when a file in the kubelet's device-plugin directory is created, deleted or renamed (inotify), so a new
/// <c>kubelet.sock</c> or our deleted socket is noticed within milliseconds instead of at the next poll. One thread
/// waits in poll(2) on the inotify descriptor and an eventfd (which ends it), and costs nothing while nothing
/// happens. Where inotify is not available (its per-user limits reached, a file system without it) the watch says
/// so through <see cref="Active"/> and the caller keeps polling; it polls anyway, as a fallback.
/// </summary>
internal sealed partial class DirectoryWatch : IDisposable
{
    private const uint InCreate = 0x100, InDelete = 0x200, InMovedFrom = 0x40, InMovedTo = 0x80, InDeleteSelf = 0x400, InMoveSelf = 0x800;
    private const int InCloexec = 0x80000, InNonblock = 0x800;
    private const int EfdCloexec = 0x80000;
    private const short PollIn = 0x1;
    private const int EINTR = 4;

    private readonly int _inotify = -1;
    private readonly int _stop = -1;
    private readonly Thread? _thread;
    private readonly Action _changed;
    private int _disposed;

    /// <param name="changed">Called on the watch's thread after each batch of events; keep it short.</param>
    public DirectoryWatch(string directory, Action changed)
    {
        _changed = changed;
        _inotify = InotifyInit1(InCloexec | InNonblock);
        if (_inotify < 0)
        {
            Problem = $"inotify_init1 failed ({Marshal.GetLastPInvokeErrorMessage()})";
            return;
        }
        if (InotifyAddWatch(_inotify, directory, InCreate | InDelete | InMovedFrom | InMovedTo | InDeleteSelf | InMoveSelf) < 0)
        {
            Problem = $"cannot watch {directory} ({Marshal.GetLastPInvokeErrorMessage()})";
            Libc.Close(_inotify);
            _inotify = -1;
            return;
        }
        _stop = EventFd(0, EfdCloexec);
        if (_stop < 0)
        {
            Problem = $"eventfd failed ({Marshal.GetLastPInvokeErrorMessage()})";
            Libc.Close(_inotify);
            _inotify = -1;
            return;
        }
        _thread = new Thread(Run) { IsBackground = true, Name = "plugin-dir-watch" };
        _thread.UnsafeStart();
    }

    /// <summary>Whether changes are being watched; false means only polling notices them (see <see cref="Problem"/>).</summary>
    public bool Active => _thread is not null;

    /// <summary>Whether the watch's thread is still there (tests: it ends with <see cref="Dispose"/>).</summary>
    internal bool Running => _thread is { IsAlive: true };

    /// <summary>Why the watch could not start, for the log.</summary>
    public string? Problem { get; }

    private unsafe void Run()
    {
        const int BufferSize = 4096;
        var buffer = stackalloc byte[BufferSize];
        var fds = stackalloc PollFd[2];
        while (Volatile.Read(ref _disposed) == 0)
        {
            fds[0] = new PollFd { Fd = _inotify, Events = PollIn };
            fds[1] = new PollFd { Fd = _stop, Events = PollIn };
            var ready = Poll(fds, 2, -1);
            if (ready < 0)
            {
                if (Marshal.GetLastPInvokeError() == EINTR)
                    continue;
                return;
            }
            if ((fds[1].Revents & PollIn) != 0)
                return;
            if ((fds[0].Revents & PollIn) == 0)
                continue;
            // Drain every queued event (the names do not matter: the caller looks at the files), then report once.
            while (Libc.Read(_inotify, buffer, BufferSize) > 0)
            {
            }
            _changed();
        }
    }

    public unsafe void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;
        if (_thread is not null)
        {
            ulong one = 1;
            Libc.Write(_stop, (byte*)&one, sizeof(ulong));
            _thread.Join();
        }
        if (_stop >= 0)
            Libc.Close(_stop);
        if (_inotify >= 0)
            Libc.Close(_inotify);
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct PollFd
    {
        public int Fd;
        public short Events;
        public short Revents;
    }

    [LibraryImport("libc", EntryPoint = "inotify_init1", SetLastError = true)]
    private static partial int InotifyInit1(int flags);

    [LibraryImport("libc", EntryPoint = "inotify_add_watch", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int InotifyAddWatch(int fd, string path, uint mask);

    [LibraryImport("libc", EntryPoint = "eventfd", SetLastError = true)]
    private static partial int EventFd(uint initval, int flags);

    [LibraryImport("libc", EntryPoint = "poll", SetLastError = true)]
    private static unsafe partial int Poll(PollFd* fds, nuint count, int timeout);
}
