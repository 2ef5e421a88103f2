using System.Text;

namespace MetaGpu.Usage.Metrics;

internal enum RequestMethod
{
    Get,
    Head,
    Other,
}

internal enum RequestPath
{
    Metrics,
    Healthz,
    Other,
}

/// <summary>
/// What the responder needs of one HTTP/1.1 request head. <see cref="Status"/> is 0 for a request it can answer,
/// otherwise the status to answer before closing: 400 (malformed), 413 (a body announced: none is accepted),
/// 505 (not HTTP/1.x).
/// </summary>
internal readonly record struct RequestHead(int Status, RequestMethod Method, RequestPath Path, bool KeepAlive)
{
    private static RequestHead Fail(int status) => new(status, RequestMethod.Other, RequestPath.Other, false);

    /// <summary>
    /// Where the head at the start of <paramref name="data"/> ends (after its empty line), or -1 while it is
    /// incomplete. Lines end in CRLF or, leniently, a bare LF.
    /// </summary>
    public static int FindEnd(ReadOnlySpan<byte> data)
    {
        var from = 0;
        while (true)
        {
            var lf = data[from..].IndexOf((byte)'\n');
            if (lf < 0)
                return -1;
            var p = from + lf + 1;
            if (p < data.Length && data[p] == '\n')
                return p + 1;
            if (p + 1 < data.Length && data[p] == '\r' && data[p + 1] == '\n')
                return p + 2;
            if (p + 1 >= data.Length && p < data.Length && data[p] == '\r')
                return -1; // "\n\r" so far: the next byte decides
            from = p;
        }
    }

    /// <summary>Parses a complete head (request line, header lines, empty line). Total: any bytes give an answer.</summary>
    public static RequestHead Parse(ReadOnlySpan<byte> head)
    {
        var lf = head.IndexOf((byte)'\n');
        if (lf < 0)
            return Fail(400);
        var line = TrimCr(head[..lf]);
        var rest = head[(lf + 1)..];

        // request-line = method SP request-target SP HTTP-version
        var sp1 = line.IndexOf((byte)' ');
        if (sp1 <= 0)
            return Fail(400);
        var method = line[..sp1];
        var afterMethod = line[(sp1 + 1)..];
        var sp2 = afterMethod.IndexOf((byte)' ');
        if (sp2 <= 0)
            return Fail(400);
        var target = afterMethod[..sp2];
        var version = afterMethod[(sp2 + 1)..];
        if (method.Length > 32 || !IsToken(method) || !IsVisible(target))
            return Fail(400);
        bool http11;
        if (version.SequenceEqual("HTTP/1.1"u8))
            http11 = true;
        else if (version.SequenceEqual("HTTP/1.0"u8))
            http11 = false;
        else if (version.Length == 8 && version.StartsWith("HTTP/"u8) && char.IsAsciiDigit((char)version[5]) && version[6] == '.' && char.IsAsciiDigit((char)version[7]))
            return Fail(505);
        else
            return Fail(400);

        var path = PathOf(target);
        if (path.IsEmpty || path[0] != '/')
            return Fail(400);

        var keepAlive = http11;
        var hosts = 0;
        while (rest.Length > 0)
        {
            lf = rest.IndexOf((byte)'\n');
            if (lf < 0)
                return Fail(400);
            line = TrimCr(rest[..lf]);
            rest = rest[(lf + 1)..];
            if (line.IsEmpty)
                break; // the empty line ends the head
            if (line[0] is (byte)' ' or (byte)'\t')
                return Fail(400); // obsolete line folding
            var colon = line.IndexOf((byte)':');
            if (colon <= 0 || !IsToken(line[..colon]))
                return Fail(400);
            var name = line[..colon];
            var value = line[(colon + 1)..].Trim(" \t"u8);
            if (!IsFieldValue(value))
                return Fail(400);
            if (name.Length == 4 && Ascii.EqualsIgnoreCase(name, "host"u8))
                hosts++;
            else if (Ascii.EqualsIgnoreCase(name, "content-length"u8))
            {
                if (value.IsEmpty || value.ContainsAnyExceptInRange((byte)'0', (byte)'9'))
                    return Fail(400);
                if (value.IndexOfAnyExcept((byte)'0') >= 0)
                    return Fail(413);
            }
            else if (Ascii.EqualsIgnoreCase(name, "transfer-encoding"u8))
                return Fail(413);
            else if (Ascii.EqualsIgnoreCase(name, "connection"u8) && HasToken(value, "close"u8))
                keepAlive = false;
        }
        if (!rest.IsEmpty)
            return Fail(400); // bytes after the empty line belong to no head
        // RFC 9112 3.2: an HTTP/1.1 request without exactly one Host is answered 400.
        if (http11 && hosts != 1)
            return Fail(400);

        var m = method.SequenceEqual("GET"u8) ? RequestMethod.Get
            : method.SequenceEqual("HEAD"u8) ? RequestMethod.Head
            : RequestMethod.Other;
        var p = path.SequenceEqual("/metrics"u8) ? RequestPath.Metrics
            : path.SequenceEqual("/healthz"u8) ? RequestPath.Healthz
            : RequestPath.Other;
        return new RequestHead(0, m, p, keepAlive);
    }

    /// <summary>The path of an origin-form (<c>/metrics?x</c>) or absolute-form (<c>http://host:9400/metrics</c>) target.</summary>
    private static ReadOnlySpan<byte> PathOf(ReadOnlySpan<byte> target)
    {
        if (target.StartsWith("http://"u8) || target.StartsWith("https://"u8))
        {
            var authority = target[(target.IndexOf((byte)':') + 3)..];
            var slash = authority.IndexOfAny((byte)'/', (byte)'?');
            target = slash < 0 ? "/"u8 : authority[slash] == '?' ? "/"u8 : authority[slash..];
        }
        var q = target.IndexOf((byte)'?');
        return q < 0 ? target : target[..q];
    }

    private static ReadOnlySpan<byte> TrimCr(ReadOnlySpan<byte> line) => line.Length > 0 && line[^1] == '\r' ? line[..^1] : line;

    private static bool IsToken(ReadOnlySpan<byte> s)
    {
        if (s.IsEmpty)
            return false;
        foreach (var b in s)
        {
            if (!(char.IsAsciiLetterOrDigit((char)b) || "!#$%&'*+-.^_`|~"u8.Contains(b)))
                return false;
        }
        return true;
    }

    private static bool IsVisible(ReadOnlySpan<byte> s) => !s.IsEmpty && !s.ContainsAnyExceptInRange((byte)0x21, (byte)0x7E);

    /// <summary>Visible ASCII, spaces, tabs and obs-text (0x80-0xFF); no other control characters (a bare CR, NUL).</summary>
    private static bool IsFieldValue(ReadOnlySpan<byte> s)
    {
        foreach (var b in s)
        {
            if (b < 0x20 && b != '\t' || b == 0x7F)
                return false;
        }
        return true;
    }

    private static bool HasToken(ReadOnlySpan<byte> list, ReadOnlySpan<byte> token)
    {
        foreach (var range in list.Split((byte)','))
        {
            if (Ascii.EqualsIgnoreCase(list[range].Trim(" \t"u8), token))
                return true;
        }
        return false;
    }
}
