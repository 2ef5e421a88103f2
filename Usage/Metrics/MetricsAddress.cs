using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace MetaGpu.Usage.Metrics;

/// <summary>
/// Where the metrics endpoint listens: <c>:9400</c> (every interface, IPv4 and IPv6 where the node has IPv6),
/// <c>0.0.0.0:9400</c> (every IPv4 interface), <c>127.0.0.1:9400</c>, <c>[::1]:9400</c>, or <c>off</c>.
/// </summary>
public sealed record MetricsAddress
{
    public const string AcceptedForms = "':PORT' (all interfaces), 'IPv4:PORT' (e.g. 127.0.0.1:9400), '[IPv6]:PORT' (e.g. [::1]:9400) or 'off'";

    public static readonly MetricsAddress Off = new(false, null, 0);

    /// <summary>The default, <c>:9400</c>.</summary>
    public static readonly MetricsAddress Default = new(true, null, 9400);

    private MetricsAddress(bool enabled, IPAddress? ip, int port)
    {
        Enabled = enabled;
        Ip = ip;
        Port = port;
    }

    /// <summary>False for <c>off</c>: no listener at all.</summary>
    public bool Enabled { get; }

    /// <summary>The address to bind, or null for every interface.</summary>
    public IPAddress? Ip { get; }

    /// <summary>0 lets the kernel pick a free port (tests); <see cref="MetricsServer.BoundPort"/> says which.</summary>
    public int Port { get; }

    /// <summary>Parses the forms above.</summary>
    /// <exception cref="FormatException">Anything else; the message names the value and the accepted forms.</exception>
    public static MetricsAddress Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var s = text.Trim();
        if (s.Equals("off", StringComparison.OrdinalIgnoreCase))
            return Off;
        var colon = s.LastIndexOf(':');
        if (colon < 0)
            throw Invalid(text, "no ':PORT'");
        var host = s.AsSpan(0, colon);
        var portText = s.AsSpan(colon + 1);
        if (portText.Length is 0 or > 5 || !int.TryParse(portText, NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port > 65535)
            throw Invalid(text, "the port must be a number from 0 to 65535");
        if (host.Length == 0)
            return new MetricsAddress(true, null, port);
        IPAddress? ip;
        if (host[0] == '[')
        {
            if (host.Length < 3 || host[^1] != ']' || !IPAddress.TryParse(host[1..^1], out ip) || ip.AddressFamily != AddressFamily.InterNetworkV6 || host.Contains('%'))
                throw Invalid(text, "the part in brackets must be an IPv6 address");
        }
        else if (!IPAddress.TryParse(host, out ip) || ip.AddressFamily != AddressFamily.InterNetwork || !IsDottedQuad(host))
        {
            throw Invalid(text, host.Contains(':')
                ? "an IPv6 address needs brackets"
                : "the host must be an IPv4 address in dotted form (host names are not resolved)");
        }
        return new MetricsAddress(true, ip, port);
    }

    /// <summary>IPAddress.TryParse also takes "1", "1.2" and "0x7f.1"; only a.b.c.d is meant here.</summary>
    private static bool IsDottedQuad(ReadOnlySpan<char> host)
    {
        var parts = 0;
        foreach (var range in host.Split('.'))
        {
            var part = host[range];
            if (part.Length is 0 or > 3 || part.ContainsAnyExceptInRange('0', '9'))
                return false;
            parts++;
        }
        return parts == 4;
    }

    private static FormatException Invalid(string text, string why)
    {
        var shown = text.Length <= 64 ? text : text[..64] + "…";
        return new FormatException($"metrics address '{shown}' is not valid ({why}): use {AcceptedForms}");
    }

    /// <summary>The canonical text: <c>:9400</c>, <c>127.0.0.1:9400</c>, <c>[::1]:9400</c>, <c>off</c>.</summary>
    public override string ToString() => !Enabled ? "off"
        : Ip is null ? $":{Port}"
        : Ip.AddressFamily == AddressFamily.InterNetworkV6 ? $"[{Ip}]:{Port}"
        : $"{Ip}:{Port}";
}
