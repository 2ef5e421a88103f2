namespace MetaGpu.Tests.Usage.Proc;

/// <summary>
/// The captured /proc files in tests/Usage/Proc/Samples (what each is: Samples/README.md), read from the checkout.
/// </summary>
internal static class ProcSamples
{
    /// <summary>The allocation mounted into the runc samples' workload (the key of the file the daemon wrote).</summary>
    public const string RuncKey = "76a67dde34f405ceb9892c4021392e67b9da3345";

    /// <summary>Another container's key, which the forged runc sample names from a tmpfs and from the rootfs.</summary>
    public const string ForgedKey = "2403d609799738a49218119e7de2b1d9aa94bde7";

    /// <summary>The two allocations of the Kubernetes samples' GPU workload.</summary>
    public const string K8sKey1 = "5c0a3e9f1b7d24680ace13579bdf02468ace1357";

    public const string K8sKey2 = "e1d2c3b4a5968778695a4b3c2d1e0f9a8b7c6d5e";

    public static string Read(string kind, string name) => File.ReadAllText(Path.Combine(Folder, kind, name));

    public static IEnumerable<string> Names(string kind) =>
        Directory.EnumerateFiles(Path.Combine(Folder, kind)).Select(Path.GetFileName).Order(StringComparer.Ordinal)!;

    public static string Folder { get; } = Path.Combine(RepoRoot(), "tests", "Usage", "Proc", "Samples");

    private static string RepoRoot()
    {
        var dir = AppContext.BaseDirectory;
        while (!File.Exists(Path.Combine(dir, "MetaGpu.csproj")))
            dir = Path.GetDirectoryName(dir) ?? throw new InvalidOperationException("MetaGpu.csproj not found above the test binaries");
        return dir;
    }
}
