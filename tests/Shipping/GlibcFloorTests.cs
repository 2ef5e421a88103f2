using MetaGpu.Tests.DevicePlugin;
using MetaGpu.Tests.Support;

namespace MetaGpu.Tests.Shipping;

/// <summary>
/// mgctl is the published binary mounted into users' containers, so it may ask a container for nothing but glibc, and
/// for no glibc newer than 2.31 (docs/glibc.md), whatever glibc the build host has. Glibc231RunTests runs it under
/// that glibc; these read what it asks for.
/// </summary>
public sealed class GlibcFloorTests
{
    /// <summary>Ubuntu 20.04's and Debian 11's glibc: the oldest in the CUDA base images still in common use.</summary>
    public static readonly Version Floor = new(2, 31);

    /// <summary>
    /// glibc's own libraries on x86_64, the ones every glibc image has. Anything else (libstdc++, libgcc_s, libssl,
    /// libz) a user's image may lack or carry in another version.
    /// </summary>
    private static readonly string[] GlibcLibraries =
    [
        "libc.so.6", "libm.so.6", "libpthread.so.0", "libdl.so.2", "librt.so.1", "libresolv.so.2", "libutil.so.1",
        "ld-linux-x86-64.so.2",
    ];

    [Fact]
    public async Task AsksForNoGlibcNewerThan231()
    {
        var imports = await ElfImports.ReadAsync(await PublishedBinary.PathAsync());
        var highest = imports.HighestGlibc;
        Assert.NotNull(highest);
        Assert.True(highest <= Floor,
            $"the binary needs GLIBC_{highest}, above the floor of {Floor} (docs/glibc.md), for: " +
            string.Join(", ", imports.SymbolsNewerThan(Floor)) +
            ". Pin each name in Native/Glibc.targets to the version it had in glibc 2.31 " +
            "(objdump -T /lib/x86_64-linux-gnu/libc.so.6 | grep NAME shows it in parentheses).");
        Assert.Empty(imports.SymbolsNewerThan(Floor));
    }

    [Fact]
    public async Task NeedsOnlyGlibcsOwnLibraries()
    {
        var imports = await ElfImports.ReadAsync(await PublishedBinary.PathAsync());
        Assert.Contains("libc.so.6", imports.Needed);
        Assert.All(imports.Needed, lib => Assert.Contains(lib, GlibcLibraries));
        // Every version it needs is glibc's, from a glibc library (no GLIBCXX_, GCC_ or OPENSSL_ version).
        Assert.All(imports.VersionNeeds, need =>
        {
            Assert.Contains(need.File, GlibcLibraries);
            Assert.NotNull(ElfImports.GlibcVersion(need.Version));
        });
    }

    /// <summary>
    /// On glibc 2.31 pthread_create and dlopen live in libpthread.so.0 and libdl.so.2, not in libc.so.6: a binary
    /// bound to their old versions that does not load those two fails at start with "undefined symbol".
    /// </summary>
    [Fact]
    public async Task LoadsTheLibrariesWhereGlibc231HasThePthreadAndDlFunctions()
    {
        var imports = await ElfImports.ReadAsync(await PublishedBinary.PathAsync());
        var names = SymbolNames(imports);
        Assert.Contains("pthread_create", names);
        Assert.Contains("dlopen", names);
        Assert.Contains("libpthread.so.0", imports.Needed);
        Assert.Contains("libdl.so.2", imports.Needed);
    }

    /// <summary>
    /// Our own libc imports are bound when linking (DirectPInvoke), so the first call does not make the runtime probe
    /// the library directories for "libc" (about 140 failed opens on the way to Register, seen with strace).
    /// </summary>
    [Fact]
    public async Task OurLibcImportsAreBoundWhenLinking()
    {
        var names = SymbolNames(await ElfImports.ReadAsync(await PublishedBinary.PathAsync()));
        // statx, inotify_init1 and eventfd are called only by our code (Primitives, DevicePlugin/DirectoryWatch).
        Assert.Contains("statx", names);
        Assert.Contains("inotify_init1", names);
        Assert.Contains("eventfd", names);
    }

    private static HashSet<string> SymbolNames(ElfImports imports) => imports.Symbols.Select(s => s.Symbol).ToHashSet(StringComparer.Ordinal);
}
