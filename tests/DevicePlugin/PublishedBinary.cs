using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;

namespace MetaGpu.Tests.DevicePlugin;

/// <summary>
/// The native-AOT binary, published once per source version (the end-to-end tests run what ships, not the JIT
/// build). Published into a temp folder named by a hash of the product's sources, so reruns reuse it.
/// </summary>
public static class PublishedBinary
{
    private static readonly Lazy<Task<string>> Binary = new(PublishAsync);

    /// <summary>
    /// The binary to test: <c>$METAGPU_E2E_BINARY</c> when set (to measure another build, e.g. an older commit's,
    /// with the same tests), else this source tree's, published once.
    /// </summary>
    public static Task<string> PathAsync() =>
        Environment.GetEnvironmentVariable("METAGPU_E2E_BINARY") is { Length: > 0 } other ? Task.FromResult(other) : Binary.Value;

    public static string RepositoryRoot
    {
        get
        {
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "MetaGpu.csproj")))
                dir = dir.Parent;
            return dir?.FullName ?? throw new InvalidOperationException("cannot find MetaGpu.csproj above the test assembly");
        }
    }

    private static async Task<string> PublishAsync()
    {
        var root = RepositoryRoot;
        var output = Path.Combine(Path.GetTempPath(), "mg-publish-" + SourceHash(root));
        var binary = Path.Combine(output, "metagpu");
        if (File.Exists(binary))
            return binary;

        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = root };
        foreach (var a in new[] { "publish", Path.Combine(root, "MetaGpu.csproj"), "-c", "Release", "-r", "linux-x64", "-o", output + ".tmp", "-nologo" })
            psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync().WaitAsync(TimeSpan.FromMinutes(10));
        if (p.ExitCode != 0)
            throw new InvalidOperationException($"dotnet publish failed ({p.ExitCode}):\n{await stdout}\n{await stderr}");
        if (Directory.Exists(output))
            Directory.Delete(output, recursive: true);
        Directory.Move(output + ".tmp", output);
        return binary;
    }

    private static string SourceHash(string root)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var files = Directory.EnumerateFiles(root, "*", SearchOption.AllDirectories)
            .Where(f => f.EndsWith(".cs", StringComparison.Ordinal) || f.EndsWith(".proto", StringComparison.Ordinal) || f.EndsWith(".csproj", StringComparison.Ordinal) || f.EndsWith(".props", StringComparison.Ordinal)
                || f.EndsWith(".targets", StringComparison.Ordinal) || f.EndsWith(".c", StringComparison.Ordinal) || f.EndsWith(".xml", StringComparison.Ordinal)) // Native/: what the link and the compiler add
            .Select(f => Path.GetRelativePath(root, f))
            .Where(f => !f.StartsWith("tests", StringComparison.Ordinal) && !f.StartsWith("bench", StringComparison.Ordinal) && !f.StartsWith("fuzz", StringComparison.Ordinal)
                && !f.Split(Path.DirectorySeparatorChar).Any(part => part is "bin" or "obj" or ".git"))
            .Order(StringComparer.Ordinal);
        foreach (var f in files)
        {
            sha.AppendData(Encoding.UTF8.GetBytes(f));
            sha.AppendData(File.ReadAllBytes(Path.Combine(root, f)));
        }
        return Convert.ToHexStringLower(sha.GetHashAndReset())[..16];
    }
}
