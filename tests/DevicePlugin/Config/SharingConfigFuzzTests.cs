using CsCheck;
using MetaGpu.DevicePlugin.Config;

namespace MetaGpu.Tests.DevicePlugin.Config;

/// <summary>Whatever a ConfigMap holds, the loader fails only with a ConfigException naming the file.</summary>
public sealed class SharingConfigFuzzTests
{
    private static readonly string[] Pieces =
    [
        "resources:", "deviceSharing:", "allocation:", "health:", "version: v1", "  - ", "name: ", "metaGpus: ", "gpus: ",
        "uuid: ", "policy: ", "\n", "\n  ", "\n    ", "[", "]", "{", "}", ",", ":", "\"", "'", "*", "&a ", "*a", "!!str ",
        "#", "---", "...", "|", ">", "\t", "0", "100", "-1", "GPU-1", "a.io/x", "cnvrg.io/metagpu", "packed", "ignoreXids: ",
        "recoveryQuietPeriod: ", "2m", "jwtSecret: x", "%YAML 1.2\n", "? ", "~", "\u00e9", "\\",
    ];

    [Fact]
    public void OnlyConfigExceptions()
    {
        Gen.Int[0, Pieces.Length - 1].Select(i => Pieces[i]).Array[0, 40].Select(p => string.Concat(p)).Sample(yaml =>
        {
            try
            {
                var c = SharingConfigLoader.Parse(yaml, "fuzz.yaml");
                Assert.NotEmpty(c.Resources);
            }
            catch (ConfigException e)
            {
                Assert.StartsWith("fuzz.yaml", e.Message, StringComparison.Ordinal);
            }
        }, iter: 3000);
    }
}
