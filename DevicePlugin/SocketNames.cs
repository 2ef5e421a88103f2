using System.Text;
using MetaGpu.Rpc.Grpc;

namespace MetaGpu.DevicePlugin;

/// <summary>
/// Names derived from a resource name for files and annotation keys: readable where they fit, shortened with a
/// stable hash of the whole resource name where they do not. A resource name may be 317 characters (a 253-character
/// domain, '/', 63 characters) but a Unix socket path only 107 bytes, so a socket name must adapt to its directory.
/// </summary>
public static class SocketNames
{
    /// <summary>The longest path a Unix socket can be bound to.</summary>
    public const int MaxSocketPathBytes = GrpcServer.MaxUnixSocketPathBytes;

    /// <summary>What <c>metagpu probe --kubelet-dir</c> looks for: every endpoint name matches it.</summary>
    public const string EndpointPattern = Prefix + "*" + Suffix;

    private const string Prefix = "metagpu-";
    private const string Suffix = ".sock";
    private const int HashLength = 8;

    /// <summary>The shortest endpoint name ever given (<c>metagpu-&lt;hash&gt;.sock</c>): a directory must leave room for it.</summary>
    public const int ShortestEndpointName = 8 + HashLength + 5; // Prefix, hash, Suffix

    /// <summary><c>cnvrg.io/metagpu</c> → <c>cnvrg.io_metagpu</c> (ASCII letters, digits, '.', '-' and '_' only).</summary>
    public static string Sanitize(string resourceName)
    {
        var chars = resourceName.ToCharArray();
        for (var i = 0; i < chars.Length; i++)
        {
            if (!(char.IsAsciiLetterOrDigit(chars[i]) || chars[i] is '.' or '-' or '_'))
                chars[i] = '_';
        }
        return new string(chars);
    }

    /// <summary>
    /// The socket file of a resource in <paramref name="directory"/>: <c>metagpu-cnvrg.io_metagpu.sock</c>, or, when that
    /// would make a path longer than a socket may have, the name cut short and ended by a hash of the whole resource name
    /// (<c>metagpu-example.com_a-very-lo-1f2e3d4c.sock</c>), so two long names never meet. The room is counted for both
    /// <paramref name="directory"/> and the kubelet's own path to the directory (<see cref="PluginDaemonOptions.DefaultPluginDirectory"/>),
    /// which differ when the pod mounts it elsewhere: the kubelet dials the name in its directory.
    /// </summary>
    /// <exception cref="PluginDirectoryException">The directory is so long that no name fits.</exception>
    public static string EndpointFileName(string resourceName, string directory)
    {
        var room = RoomForName(directory);
        if (room < ShortestEndpointName)
            throw new PluginDirectoryException(TooLong(directory));
        return Prefix + Shorten(resourceName, room - ShortestEndpointName + HashLength) + Suffix;
    }

    /// <summary>Bytes left for a file name in <paramref name="directory"/> (and in the kubelet's view of it) within a socket path.</summary>
    public static int RoomForName(string directory)
    {
        var ours = Encoding.UTF8.GetByteCount(Path.TrimEndingDirectorySeparator(directory)) + 1;
        var kubelets = PluginDaemonOptions.DefaultPluginDirectory.Length + 1;
        return MaxSocketPathBytes - Math.Max(ours, kubelets);
    }

    /// <summary>Why no socket fits in <paramref name="directory"/>, for a person to fix.</summary>
    public static string TooLong(string directory)
    {
        var bytes = Encoding.UTF8.GetByteCount(Path.TrimEndingDirectorySeparator(directory));
        var most = MaxSocketPathBytes - 1 - ShortestEndpointName;
        return $"kubelet plugin directory {directory} is {bytes} bytes long: a Unix socket path may have at most " +
            $"{MaxSocketPathBytes} bytes, so no plugin socket fits in it (the directory may have at most {most}); " +
            "use a shorter --kubelet-dir, e.g. mount the same directory at a shorter path";
    }

    /// <summary>
    /// <see cref="Sanitize"/>d <paramref name="resourceName"/> when it has at most <paramref name="maxLength"/> characters,
    /// else its first characters, '-' and an 8-hex-digit hash of the whole name, <paramref name="maxLength"/> in all
    /// (at least the hash).
    /// </summary>
    public static string Shorten(string resourceName, int maxLength)
    {
        var readable = Sanitize(resourceName);
        if (readable.Length <= maxLength)
            return readable;
        var hash = Hash(resourceName);
        var keep = maxLength - HashLength - 1;
        return keep <= 0 ? hash : readable[..keep].TrimEnd('.', '-', '_') + "-" + hash;
    }

    /// <summary>
    /// 32 bits of FNV-1a over the UTF-8 name, as 8 hex digits: stable across runs and builds (a restarted daemon finds
    /// the same socket name), and without the crypto stack a cryptographic hash would pull into the binary.
    /// </summary>
    private static string Hash(string resourceName)
    {
        var hash = 0xcbf29ce484222325UL;
        foreach (var b in Encoding.UTF8.GetBytes(resourceName))
            hash = (hash ^ b) * 0x100000001b3UL;
        return ((uint)(hash ^ (hash >> 32))).ToString("x8", System.Globalization.CultureInfo.InvariantCulture);
    }
}
