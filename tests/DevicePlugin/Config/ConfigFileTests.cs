using MetaGpu.DevicePlugin.Config;
using static MetaGpu.Tests.DevicePlugin.Config.BadConfigFiles;

namespace MetaGpu.Tests.DevicePlugin.Config;

/// <summary>
/// What the config path is, checked on the opened file: only a regular file within the size limit is read, and
/// nothing blocks (a FIFO used to block the open forever) or grows without bound (<c>/dev/zero</c> grew to gigabytes).
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class ConfigFileTests : IDisposable
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(20);
    private readonly TempConfig _dir = new();

    public void Dispose() => _dir.Dispose();

    /// <summary>The error, from another thread so that a read that blocks fails the test instead of hanging it.</summary>
    private static async Task<string> LoadErrorAsync(string path)
    {
        var load = Task.Run(() => SharingConfigLoader.Load(path));
        var e = await Assert.ThrowsAsync<ConfigException>(() => load.WaitAsync(Wait));
        Assert.Equal(path, e.SourceName);
        return e.Message;
    }

    [Theory]
    [InlineData(Kind.Nested)]
    [InlineData(Kind.TooLarge)]
    [InlineData(Kind.ShadowLike)]
    [InlineData(Kind.Directory)]
    [InlineData(Kind.Fifo)]
    [InlineData(Kind.DevZero)]
    [InlineData(Kind.DevUrandom)]
    [InlineData(Kind.Unreadable)]
    public async Task EachBadPathIsAConfigErrorNamingItAndWhatItIs(Kind kind)
    {
        var path = Path.Combine(_dir.Dir, "config.yaml");
        Put(kind, path);
        if (kind == Kind.Unreadable && CanRead(path))
            return; // root reads mode 000; BadConfigFileProcessTests checks this case with the capability dropped

        var message = await LoadErrorAsync(path);

        Assert.StartsWith(path, message, StringComparison.Ordinal);
        Assert.Contains(Expected(kind), message);
        Assert.DoesNotContain("$6$", message);
    }

    [Theory]
    [InlineData(Kind.Directory, "is a directory; give the path of the file in it (e.g. .../config.yaml)")]
    [InlineData(Kind.Fifo, "is a named pipe (FIFO), not a regular file; the config must be a regular file (for a ConfigMap, the file of its key, e.g. /etc/metagpu/config.yaml)")]
    [InlineData(Kind.DevZero, "is a character device, not a regular file (the path leads to /dev/zero); the config must be a regular file (for a ConfigMap, the file of its key, e.g. /etc/metagpu/config.yaml)")]
    [InlineData(Kind.TooLarge, "the file is 1048578 bytes; a config file may be at most 1 MiB (1048576 bytes)")]
    public async Task TheMessagesInFull(Kind kind, string expected)
    {
        var path = Path.Combine(_dir.Dir, "config.yaml");
        Put(kind, path);

        Assert.Equal($"{path}: {expected}", await LoadErrorAsync(path));
    }

    [Fact]
    public async Task AMissingFileAndAMissingDirectory()
    {
        var missing = Path.Combine(_dir.Dir, "none.yaml");
        Assert.Equal($"{missing}: the config file does not exist", await LoadErrorAsync(missing));
        var underAFile = Path.Combine(_dir.Write("x: 1\n", "file"), "config.yaml");
        Assert.Equal($"{underAFile}: the config file does not exist (a part of its path is not a directory)", await LoadErrorAsync(underAFile));
    }

    [Fact]
    public void AFileOfExactlyTheLimitIsRead()
    {
        var path = Path.Combine(_dir.Dir, "config.yaml");
        var head = "resources:\n  - name: a.io/x\n#";
        File.WriteAllText(path, head + new string('x', ConfigLimits.MaxFileBytes - head.Length - 1) + "\n");
        Assert.Equal(ConfigLimits.MaxFileBytes, new FileInfo(path).Length);

        Assert.Equal("a.io/x", SharingConfigLoader.Load(path).Resources[0].ResourceName);
    }

    [Fact]
    public void AByteOrderMarkIsReadAsBefore()
    {
        var path = Path.Combine(_dir.Dir, "config.yaml");
        File.WriteAllBytes(path, [0xEF, 0xBB, 0xBF, .. "resources:\n  - name: a.io/x\n"u8]);

        Assert.Equal("a.io/x", SharingConfigLoader.Load(path).Resources[0].ResourceName);
    }

    private static bool CanRead(string path)
    {
        try
        {
            File.ReadAllBytes(path);
            return true;
        }
        catch (UnauthorizedAccessException)
        {
            return false;
        }
    }
}
