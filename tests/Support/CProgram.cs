using System.Security.Cryptography;
using MetaGpu.Tests.DevicePlugin;
using MetaGpu.Tests.Nvml;

namespace MetaGpu.Tests.Support;

/// <summary>
/// A helper program of the tests written in C beside them, built with gcc once per version of its source and flags
/// into a temp folder named by their hash (reruns reuse it, an edit rebuilds it). Built under a unique name and
/// renamed, so a concurrent test run never sees half a binary.
/// </summary>
public static class CProgram
{
    /// <param name="source">The source, relative to the repository root (e.g. tests/Control/Service/relay.c).</param>
    /// <param name="name">The program's file name and the temp folder's prefix.</param>
    public static string Build(string source, string name, params string[] flags)
    {
        var path = Path.Combine(PublishedBinary.RepositoryRoot, source);
        var bytes = File.ReadAllBytes(path);
        var hash = Convert.ToHexStringLower(SHA256.HashData([.. bytes, .. System.Text.Encoding.UTF8.GetBytes(string.Join(' ', flags))]))[..16];
        var binary = Path.Combine(Path.GetTempPath(), $"mg-{name}-{hash}", name);
        if (File.Exists(binary))
            return binary;
        Directory.CreateDirectory(Path.GetDirectoryName(binary)!);
        var temp = binary + "." + Guid.NewGuid().ToString("N")[..8];
        FakeNvml.Gcc([.. flags, "-o", temp, path]);
        File.Move(temp, binary, overwrite: true);
        return binary;
    }
}
