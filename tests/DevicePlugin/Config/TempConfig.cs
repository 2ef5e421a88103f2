using MetaGpu.DevicePlugin.Config;

namespace MetaGpu.Tests.DevicePlugin.Config;

/// <summary>A temporary directory holding config files, removed with everything in it.</summary>
public sealed class TempConfig : IDisposable
{
    public TempConfig() => Directory.CreateDirectory(Dir);

    public string Dir { get; } = Path.Combine(Path.GetTempPath(), "metagpu-config-" + Guid.NewGuid().ToString("N"));

    /// <summary>Writes <paramref name="yaml"/> to <paramref name="name"/> in the directory; returns its path.</summary>
    public string Write(string yaml, string name = "config.yaml")
    {
        var path = Path.Combine(Dir, name);
        File.WriteAllText(path, yaml);
        return path;
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Dir, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    /// <summary>The config in a real file holding <paramref name="yaml"/>.</summary>
    public static SharingConfig Load(string yaml)
    {
        using var dir = new TempConfig();
        return SharingConfigLoader.Load(dir.Write(yaml));
    }

    /// <summary>
    /// The error for a file holding <paramref name="yaml"/>, with the file's directory taken out so the message reads as
    /// for <c>config.yaml</c> (the error begins with the path it was given).
    /// </summary>
    public static string LoadError(string yaml)
    {
        using var dir = new TempConfig();
        var path = dir.Write(yaml);
        var e = Assert.Throws<ConfigException>(() => SharingConfigLoader.Load(path));
        Assert.StartsWith(path, e.Message, StringComparison.Ordinal);
        Assert.Equal(path, e.SourceName);
        return "config.yaml" + e.Message[path.Length..];
    }
}
