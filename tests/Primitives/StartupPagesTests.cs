using System.Runtime.InteropServices;
using MetaGpu.Primitives;
using MetaGpu.Tests.Support;

namespace MetaGpu.Tests.Primitives;

/// <summary>
/// <see cref="StartupPages.Release"/> on this test process: the file pages of its loaded objects leave its resident
/// set, and nothing it wrote (a library's written global, a text relocation) is lost.
/// </summary>
public sealed class StartupPagesTests
{
    private static readonly string[] Flags = ["-shared", "-fPIC", "-O2", "-Wall", "-Wextra", "-Werror"];

    private static readonly Lazy<string> Library = new(() =>
        CProgram.Build(Path.Combine("tests", "Primitives", "startup_pages.c"), "libstartup_pages.so", Flags));

    private static readonly Lazy<string> LibraryWithTextRelocation = new(() =>
        CProgram.Build(Path.Combine("tests", "Primitives", "startup_pages.c"), "libstartup_pages_textrel.so",
            [.. Flags, "-DWITH_TEXT_RELOCATION", "-Wl,-z,notext"]));

    [Fact]
    public void GivesBackFilePagesOfTheLoadedObjects()
    {
        var before = RssFileKiB();

        var released = StartupPages.Release();
        var after = RssFileKiB();

        Assert.Equal(0, released.Failures);
        // libc, the dynamic loader, the .NET host and runtime: several objects with read-only segments of many pages.
        Assert.True(released.Runs >= 4, $"{released.Runs} runs");
        Assert.True(released.Bytes >= 1 << 20, $"{released.Bytes} bytes");
        // What runs meanwhile faults a little back in, far less than what was given back.
        Assert.True(after < before - 512, $"RssFile {before} KiB before, {after} KiB after");
    }

    [Fact]
    public unsafe void KeepsWhatTheProcessWroteIntoAnObjectsPages()
    {
        var plain = NativeLibrary.Load(Library.Value);
        var relocated = NativeLibrary.Load(LibraryWithTextRelocation.Value);
        try
        {
            // A written global (writable segment) and read-only data patched at run time, as CoreCLR patches a page
            // of libcoreclr.so: in an object without text relocations, whose other read-only pages are given back.
            var set = (delegate* unmanaged<int, void>)NativeLibrary.GetExport(plain, "set_counter");
            var get = (delegate* unmanaged<int>)NativeLibrary.GetExport(plain, "get_counter");
            var patch = (delegate* unmanaged<int, int>)NativeLibrary.GetExport(plain, "patch_constant");
            var constant = (delegate* unmanaged<int>)NativeLibrary.GetExport(plain, "constant_value");
            // The loader wrote the counter's address into the code segment.
            var address = (delegate* unmanaged<nint>)NativeLibrary.GetExport(relocated, "counter_address");
            var slot = (delegate* unmanaged<nint>)NativeLibrary.GetExport(relocated, "slot_value");
            Assert.Equal(address(), slot());
            set(4242);
            Assert.Equal(0, patch(77));
            Assert.Equal(77, constant());

            var released = StartupPages.Release();

            Assert.True(released.Runs > 0);
            Assert.Equal(4242, get());
            Assert.Equal(77, constant());
            Assert.Equal(address(), slot());
        }
        finally
        {
            NativeLibrary.Free(relocated);
            NativeLibrary.Free(plain);
        }
    }

    [Fact]
    public async Task EndsWhenStoppedBeforeTheStartIsDone()
    {
        using var stop = new CancellationTokenSource();
        var never = new TaskCompletionSource();
        var waiting = StartupPages.ReleaseAfterAsync(never.Task, TimeSpan.Zero, stop.Token);
        Assert.False(waiting.IsCompleted);

        await stop.CancelAsync();

        await waiting.WaitAsync(TimeSpan.FromSeconds(10));
    }

    private static long RssFileKiB()
    {
        foreach (var line in File.ReadLines("/proc/self/status"))
        {
            if (line.StartsWith("RssFile:", StringComparison.Ordinal))
                return long.Parse(line["RssFile:".Length..].Trim().Split(' ')[0]);
        }
        throw new InvalidOperationException("no RssFile in /proc/self/status");
    }
}
