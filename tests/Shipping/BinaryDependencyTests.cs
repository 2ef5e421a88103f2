using System.Diagnostics;
using System.Text.RegularExpressions;
using MetaGpu.Tests.DevicePlugin;

namespace MetaGpu.Tests.Shipping;

/// <summary>The published binary needs nothing the run stage's base image does not have.</summary>
public sealed partial class BinaryDependencyTests
{
    /// <summary>
    /// What mcr.microsoft.com/dotnet/runtime-deps:10.0-noble-chiseled provides, from its Dockerfile in dotnet/dotnet-docker
    /// (src/runtime-deps/10.0/noble-chiseled/amd64): the chisel slices libc6_libs, libgcc-s1_libs, libstdc++6_libs and
    /// libssl3t64_libs (plus ca-certificates and base files). No zlib since .NET 9 (the runtime carries its own), so
    /// libz.so.1 is not in the list. Libraries the binary opens at run time (libnvidia-ml.so.1, which the NVIDIA
    /// runtime mounts) are not NEEDED entries and do not appear here.
    /// </summary>
    private static readonly string[] BaseImageLibraries =
    [
        // libc6_libs (glibc 2.39)
        "libc.so.6", "libm.so.6", "libdl.so.2", "libpthread.so.0", "librt.so.1", "ld-linux-x86-64.so.2",
        // libgcc-s1_libs, libstdc++6_libs
        "libgcc_s.so.1", "libstdc++.so.6",
        // libssl3t64_libs
        "libssl.so.3", "libcrypto.so.3",
    ];

    /// <summary>Ubuntu 24.04's glibc, which the chiseled noble image carries.</summary>
    private static readonly Version BaseImageGlibc = new(2, 39);

    [Fact]
    public async Task EveryNeededLibraryIsInTheBaseImage()
    {
        var needed = NeededEntry().Matches(await ReadElfAsync("-d")).Select(m => m.Groups[1].Value).ToList();
        Assert.NotEmpty(needed);
        Assert.All(needed, lib => Assert.Contains(lib, BaseImageLibraries));
    }

    [Fact]
    public async Task ItAsksForNoNewerGlibcThanTheBaseImageHas()
    {
        var versions = GlibcVersion().Matches(await ReadElfAsync("-V")).Select(m => Version.Parse(m.Groups[1].Value)).Distinct().ToList();
        Assert.NotEmpty(versions);
        Assert.True(versions.Max() <= BaseImageGlibc, $"the binary needs GLIBC_{versions.Max()}, the base image has {BaseImageGlibc}");
    }

    private static async Task<string> ReadElfAsync(string option)
    {
        var binary = await PublishedBinary.PathAsync();
        var psi = new ProcessStartInfo("readelf") { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add("--wide");
        psi.ArgumentList.Add(option);
        psi.ArgumentList.Add(binary);
        using var p = Process.Start(psi) ?? throw new InvalidOperationException("cannot start readelf (binutils, installed with gcc)");
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync().WaitAsync(TimeSpan.FromMinutes(1));
        Assert.True(p.ExitCode == 0, $"readelf {option} failed: {await stderr}");
        return await stdout;
    }

    [GeneratedRegex(@"\(NEEDED\)\s+Shared library: \[([^\]]+)\]")]
    private static partial Regex NeededEntry();

    [GeneratedRegex(@"GLIBC_(\d+\.\d+(?:\.\d+)?)")]
    private static partial Regex GlibcVersion();
}
