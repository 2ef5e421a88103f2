using System.Runtime.InteropServices;

namespace MetaGpu.Primitives;

/// <summary>
/// Gives back the file pages that only starting up touched: the read-only parts (code, constants, unwind tables) of
/// the executable and of every shared library loaded, unmapped from this process with <c>madvise(MADV_DONTNEED)</c>.
/// </summary>
/// <remarks>
/// <para>
/// Starting the runtime, binding the services and registering touch code all over the binary, and the kernel maps
/// 64 KiB around every page that faults, so after the registration the executable's code and read-only data are
/// resident almost whole (4.7 of 4.8 MB), and much of libc too. Much of it never runs again. Those pages are clean
/// copies of the files: dropping them from this process's page tables loses nothing, and a page that is needed
/// again comes back from the page cache with a minor fault (no read from disk while the page cache keeps it).
/// What this changes is the process's resident set, not the node's memory: the pages stay in the page cache,
/// shared with every process that maps the same files, until the kernel needs the memory (and a container's memory
/// cgroup still counts the page cache it read); unmapped, they are easier for the kernel to take back.
/// </para>
/// <para>
/// Only pages that hold nothing of this process's own are touched: pages of the loadable segments without write
/// permission that are still the file's page (<c>/proc/self/pagemap</c>, read just before each segment is given
/// back). A page of such a segment can be the process's own copy: the dynamic loader writes text relocations into
/// code, and a runtime may make a page of its read-only data writable for a moment and write to it (CoreCLR does,
/// in libcoreclr.so); dropping that copy would bring back the file's content. Writable segments are never touched,
/// as their pages may be written at any moment. Only whole pages inside a segment count. The dynamic loader's lock
/// is held throughout (<c>dl_iterate_phdr</c>'s callback), so no library is unloaded meanwhile; the calls made
/// under it are bound before it is taken, so none of them loads a library.
/// </para>
/// </remarks>
internal static unsafe partial class StartupPages
{
    private const int MADV_DONTNEED = 4;
    private const uint PT_LOAD = 1;
    private const uint PF_W = 2;
    private const ulong AT_SYSINFO_EHDR = 33;
    private const int O_RDONLY = 0;
    private const int O_CLOEXEC = 0x80000;
    private const ulong PagePresent = 1UL << 63;
    private const ulong PageFileOrSharedAnon = 1UL << 61;
    private const int EntriesPerRead = 512;

    /// <summary>What one call gave back: runs of whole pages, their bytes, and runs the kernel refused.</summary>
    public readonly record struct Released(int Runs, long Bytes, int Failures);

    /// <summary>Gives back the read-only file pages of every loaded object; nothing where pagemap cannot be read. Never throws.</summary>
    public static Released Release()
    {
        var state = new State { PageSize = (nuint)Environment.SystemPageSize };
        try
        {
            state.Pagemap = Open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
            if (state.Pagemap < 0)
                return default;
            try
            {
                // Bind every call the callback makes now, outside the loader's lock.
                ulong entry;
                _ = Pread(state.Pagemap, &entry, sizeof(ulong), 0);
                _ = Madvise(0, 0, MADV_DONTNEED);
                state.Vdso = GetAuxVal(AT_SYSINFO_EHDR);
                DlIteratePhdr(&Visit, (nint)(&state));
            }
            finally
            {
                _ = Close(state.Pagemap);
            }
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return default;
        }
        return new Released(state.Runs, state.Bytes, state.Failures);
    }

    private struct State
    {
        public nuint PageSize;
        public nuint Vdso;
        public int Pagemap;
        public int Runs;
        public long Bytes;
        public int Failures;
    }

    /// <summary><c>struct dl_phdr_info</c>'s first four fields (the same on every 64-bit Linux).</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct DlPhdrInfo
    {
        public nuint Addr;
        public byte* Name;
        public Elf64Phdr* Phdr;
        public ushort Phnum;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct Elf64Phdr
    {
        public uint Type;
        public uint Flags;
        public ulong Offset;
        public ulong Vaddr;
        public ulong Paddr;
        public ulong Filesz;
        public ulong Memsz;
        public ulong Align;
    }

    [UnmanagedCallersOnly]
    private static int Visit(DlPhdrInfo* info, nuint size, nint data)
    {
        var state = (State*)data;
        if (info->Phdr == null || info->Phnum == 0)
            return 0;
        // The vDSO is the kernel's, not a file's pages.
        if (state->Vdso != 0 && IsVdso(info, state->Vdso))
            return 0;
        var mask = state->PageSize - 1;
        for (var i = 0; i < info->Phnum; i++)
        {
            var ph = &info->Phdr[i];
            if (ph->Type != PT_LOAD || (ph->Flags & PF_W) != 0 || ph->Filesz == 0)
                continue;
            // Whole pages inside the segment only: a page shared with a neighbouring writable segment stays.
            var start = (info->Addr + (nuint)ph->Vaddr + mask) & ~mask;
            var end = (info->Addr + (nuint)(ph->Vaddr + ph->Filesz)) & ~mask;
            if (end > start)
                ReleaseFilePages(state, start, end);
        }
        return 0;
    }

    /// <summary>Gives back the runs of present file pages in [start, end), read from pagemap a chunk at a time.</summary>
    private static void ReleaseFilePages(State* state, nuint start, nuint end)
    {
        var entries = stackalloc ulong[EntriesPerRead];
        var runStart = (nuint)0;
        for (var chunk = start; chunk < end; chunk += (nuint)EntriesPerRead * state->PageSize)
        {
            var pages = (int)Math.Min((ulong)EntriesPerRead, (ulong)((end - chunk) / state->PageSize));
            var offset = (long)(chunk / state->PageSize) * sizeof(ulong);
            var read = Pread(state->Pagemap, entries, (nuint)(pages * sizeof(ulong)), offset);
            var known = read < 0 ? 0 : (int)(read / sizeof(ulong));
            for (var p = 0; p < pages; p++)
            {
                var page = chunk + (nuint)p * state->PageSize;
                var file = p < known && (entries[p] & (PagePresent | PageFileOrSharedAnon)) == (PagePresent | PageFileOrSharedAnon);
                if (file && runStart == 0)
                    runStart = page;
                else if (!file && runStart != 0)
                {
                    GiveBack(state, runStart, page);
                    runStart = 0;
                }
            }
        }
        if (runStart != 0)
            GiveBack(state, runStart, end);
    }

    private static void GiveBack(State* state, nuint start, nuint end)
    {
        if (Madvise(start, end - start, MADV_DONTNEED) == 0)
        {
            state->Runs++;
            state->Bytes += (long)(end - start);
        }
        else
        {
            state->Failures++;
        }
    }

    private static bool IsVdso(DlPhdrInfo* info, nuint vdso)
    {
        for (var i = 0; i < info->Phnum; i++)
        {
            var ph = &info->Phdr[i];
            if (ph->Type == PT_LOAD && info->Addr + (nuint)ph->Vaddr - (nuint)ph->Offset == vdso)
                return true;
        }
        return false;
    }

    [LibraryImport("libc", EntryPoint = "dl_iterate_phdr")]
    private static partial int DlIteratePhdr(delegate* unmanaged<DlPhdrInfo*, nuint, nint, int> callback, nint data);

    [LibraryImport("libc", EntryPoint = "madvise")]
    private static partial int Madvise(nuint address, nuint length, int advice);

    [LibraryImport("libc", EntryPoint = "getauxval")]
    private static partial nuint GetAuxVal(ulong type);

    [LibraryImport("libc", EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags, uint mode = 0);

    [LibraryImport("libc", EntryPoint = "pread")]
    private static partial nint Pread(int fd, void* buffer, nuint count, long offset);

    [LibraryImport("libc", EntryPoint = "close")]
    private static partial int Close(int fd);
}

/// <summary>When <see cref="StartupPages"/> gives pages back (not unsafe code, so that it can wait).</summary>
internal static partial class StartupPages
{
    /// <summary>How long after the first registration the pages are given back: the deferred start-up work (mgctl's
    /// installation, usage's first refresh) is done by then on a node that is not overloaded, and what it still needs
    /// faults back in.</summary>
    public static readonly TimeSpan AfterRegistration = TimeSpan.FromMilliseconds(250);

    /// <summary>
    /// Gives the pages back once, <paramref name="settle"/> after <paramref name="started"/> completes; nothing when
    /// <paramref name="stop"/> comes first. Never throws.
    /// </summary>
    public static async Task ReleaseAfterAsync(Task started, TimeSpan settle, CancellationToken stop)
    {
        try
        {
            await started.WaitAsync(stop).ConfigureAwait(false);
            await Task.Delay(settle, stop).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            return;
        }
        Release();
    }
}
