namespace MetaGpu.Bench;

/// <summary>
/// The two config files the soak swaps in turn at the path given to <c>--config</c>: 100 meta-devices per GPU packed,
/// and 50 spread (the daemon re-plans, and ListAndWatch lists 800 or 400 devices). Both set a 2 s recovery quiet
/// period, so a flapped GPU is healthy again in seconds rather than the default 2 minutes. Each is written beside and
/// renamed over, as a ConfigMap update replaces its file whole.
/// </summary>
sealed class SoakConfigs(string path)
{
    public const string RecoveryQuietPeriod = "2s";

    private static readonly (int MetaGpus, string Policy)[] Variants = [(100, "packed"), (50, "spread")];
    private int _written;

    public string Path { get; } = path;

    /// <summary>Writes the first config (before the daemon starts); its device count.</summary>
    public int WriteFirst() => Write(0);

    /// <summary>Writes the other config; the device count ListAndWatch should show once the daemon has re-read it.</summary>
    public int WriteNext() => Write(++_written % Variants.Length);

    private int Write(int variant)
    {
        var (metaGpus, policy) = Variants[variant];
        File.WriteAllText(Path + ".new", $"""
            version: v1
            resources:
              - name: {SoakKubelet.ResourceName}
                metaGpus: {metaGpus}
            allocation:
              policy: {policy}
            health:
              recoveryQuietPeriod: {RecoveryQuietPeriod}

            """);
        File.Move(Path + ".new", Path, overwrite: true);
        return metaGpus * SoakGpus.Count;
    }

    /// <summary>What the configs are, in words.</summary>
    public static string Describe => string.Join(" and ", Variants.Select(v => $"metaGpus {v.MetaGpus} {v.Policy}"));
}
