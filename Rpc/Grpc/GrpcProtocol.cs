using System.Buffers;
using System.Globalization;
using System.Text;
using Grpc.Core;
using MetaGpu.Rpc.Http2;

namespace MetaGpu.Rpc.Grpc;

/// <summary>The gRPC-over-HTTP/2 conventions (gRPC's PROTOCOL-HTTP2): timeouts, status messages, metadata, status mapping.</summary>
public static class GrpcProtocol
{
    public const string ContentType = "application/grpc";
    public const int MessagePrefixLength = 5;

    public static bool IsGrpcContentType(string? value) =>
        value is not null
        && value.StartsWith(ContentType, StringComparison.Ordinal)
        && (value.Length == ContentType.Length || value[ContentType.Length] is '+' or ';');

    /// <summary>
    /// The longest delay a .NET timer holds (2^32-2 ms, about 49.7 days). A <c>grpc-timeout</c> of 1194H or 99999999S
    /// is longer: such a deadline is "no deadline", not an error.
    /// </summary>
    public static readonly TimeSpan LongestTimer = TimeSpan.FromMilliseconds(uint.MaxValue - 1.0);

    /// <summary>Parses <c>grpc-timeout</c>: 1 to 8 digits and a unit of H, M, S, m, u or n.</summary>
    public static bool TryParseTimeout(string? value, out TimeSpan timeout)
    {
        timeout = default;
        if (value is null || value.Length < 2 || value.Length > 9)
            return false;
        long amount = 0;
        for (var i = 0; i < value.Length - 1; i++)
        {
            var c = value[i];
            if (c is < '0' or > '9')
                return false;
            amount = amount * 10 + (c - '0');
        }
        long ticks;
        try
        {
            ticks = value[^1] switch
            {
                'H' => checked(amount * TimeSpan.TicksPerHour),
                'M' => checked(amount * TimeSpan.TicksPerMinute),
                'S' => checked(amount * TimeSpan.TicksPerSecond),
                'm' => checked(amount * TimeSpan.TicksPerMillisecond),
                'u' => checked(amount * 10),
                'n' => amount / 100,
                _ => -1,
            };
        }
        catch (OverflowException)
        {
            ticks = TimeSpan.MaxValue.Ticks;
        }
        if (ticks < 0)
            return false;
        timeout = TimeSpan.FromTicks(ticks);
        return true;
    }

    /// <summary>Formats a timeout with the finest unit that fits in 8 digits (rounding up, so it never expires early).</summary>
    public static string FormatTimeout(TimeSpan timeout)
    {
        var ticks = Math.Max(0, timeout.Ticks);
        const long max = 99_999_999;
        ReadOnlySpan<(long TicksPerUnit, char Unit)> units =
        [
            (0, 'n'), (10, 'u'), (TimeSpan.TicksPerMillisecond, 'm'), (TimeSpan.TicksPerSecond, 'S'),
            (TimeSpan.TicksPerMinute, 'M'), (TimeSpan.TicksPerHour, 'H'),
        ];
        foreach (var (perUnit, unit) in units)
        {
            long amount = perUnit == 0
                ? (ticks > max / 100 ? long.MaxValue : ticks * 100)
                : (ticks + perUnit - 1) / perUnit;
            if (amount <= max)
                return amount.ToString(CultureInfo.InvariantCulture) + unit;
        }
        return max.ToString(CultureInfo.InvariantCulture) + "H";
    }

    /// <summary>Percent-encodes <c>grpc-message</c>: UTF-8, with bytes outside 0x20-0x7E and '%' as %XX.</summary>
    public static string PercentEncode(string message)
    {
        var needs = false;
        foreach (var c in message)
        {
            if (c is < ' ' or > '~' or '%')
            {
                needs = true;
                break;
            }
        }
        if (!needs)
            return message;
        var bytes = Encoding.UTF8.GetBytes(message);
        var sb = new StringBuilder(bytes.Length * 3);
        foreach (var b in bytes)
        {
            if (b is < 0x20 or > 0x7e or (byte)'%')
                sb.Append('%').Append("0123456789ABCDEF"[b >> 4]).Append("0123456789ABCDEF"[b & 0xf]);
            else
                sb.Append((char)b);
        }
        return sb.ToString();
    }

    /// <summary>Decodes <c>grpc-message</c>; never fails: a malformed escape is kept as it is.</summary>
    public static string PercentDecode(string? value)
    {
        if (string.IsNullOrEmpty(value))
            return "";
        if (!value.Contains('%'))
            return value;
        var bytes = new byte[value.Length];
        var n = 0;
        for (var i = 0; i < value.Length; i++)
        {
            var c = value[i];
            if (c == '%' && i + 2 < value.Length && IsHex(value[i + 1]) && IsHex(value[i + 2]))
            {
                bytes[n++] = (byte)((Hex(value[i + 1]) << 4) | Hex(value[i + 2]));
                i += 2;
            }
            else
            {
                bytes[n++] = (byte)c;
            }
        }
        return Encoding.UTF8.GetString(bytes, 0, n);

        static bool IsHex(char c) => c is >= '0' and <= '9' or >= 'a' and <= 'f' or >= 'A' and <= 'F';
        static int Hex(char c) => c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
    }

    /// <summary>gRPC's mapping of a non-200 HTTP status to a status code.</summary>
    public static StatusCode FromHttpStatus(int httpStatus) => httpStatus switch
    {
        400 => StatusCode.Internal,
        401 => StatusCode.Unauthenticated,
        403 => StatusCode.PermissionDenied,
        404 => StatusCode.Unimplemented,
        429 or 502 or 503 or 504 => StatusCode.Unavailable,
        _ => StatusCode.Unknown,
    };

    /// <summary>RST_STREAM codes seen by a client, mapped as grpc-go does.</summary>
    public static StatusCode FromResetCode(Http2ErrorCode code) => code switch
    {
        Http2ErrorCode.Cancel => StatusCode.Cancelled,
        Http2ErrorCode.RefusedStream => StatusCode.Unavailable,
        Http2ErrorCode.EnhanceYourCalm => StatusCode.ResourceExhausted,
        _ => StatusCode.Internal,
    };

    /// <summary>Headers that are transport, not application metadata.</summary>
    public static bool IsReserved(string name) =>
        name.Length == 0 || name[0] == ':' || name is "content-type" or "te" or "grpc-timeout" or "grpc-encoding"
            or "grpc-accept-encoding" or "grpc-status" or "grpc-message" or "content-length";

    public static Metadata ToMetadata(IReadOnlyList<HeaderField>? fields)
    {
        var metadata = new Metadata();
        if (fields is null)
            return metadata;
        foreach (var f in fields)
        {
            if (IsReserved(f.Name))
                continue;
            try
            {
                if (f.Name.EndsWith(Metadata.BinaryHeaderSuffix, StringComparison.Ordinal))
                {
                    if (TryDecodeBase64(f.Value, out var bytes))
                        metadata.Add(f.Name, bytes);
                }
                else
                {
                    metadata.Add(f.Name, f.Value);
                }
            }
            catch (ArgumentException)
            {
                // A name Grpc.Core.Api will not hold (it allows [a-z0-9._-]): not metadata we can surface.
            }
        }
        return metadata;
    }

    public static void AddMetadata(List<HeaderField> headers, Metadata? metadata)
    {
        if (metadata is null)
            return;
        foreach (var entry in metadata)
        {
            if (IsReserved(entry.Key))
                continue;
            headers.Add(entry.IsBinary
                ? new HeaderField(entry.Key, Convert.ToBase64String(entry.ValueBytes))
                : new HeaderField(entry.Key, entry.Value));
        }
    }

    /// <summary>Base64 as gRPC sends it: padded or not (grpc-go omits the padding).</summary>
    public static bool TryDecodeBase64(string value, out byte[] bytes)
    {
        var padded = (value.Length % 4) switch
        {
            2 => value + "==",
            3 => value + "=",
            _ => value,
        };
        var buffer = new byte[padded.Length / 4 * 3];
        if (Convert.TryFromBase64String(padded, buffer, out var written))
        {
            bytes = written == buffer.Length ? buffer : buffer[..written];
            return true;
        }
        bytes = [];
        return false;
    }

    public static string? Find(IReadOnlyList<HeaderField>? fields, string name)
    {
        if (fields is null)
            return null;
        for (var i = 0; i < fields.Count; i++)
        {
            if (ReferenceEquals(fields[i].Name, name) || fields[i].Name == name)
                return fields[i].Value;
        }
        return null;
    }

    public static int ParseStatusCode(string? value) =>
        int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var code) ? code : -1;

    public static Status StatusFrom(IReadOnlyList<HeaderField> fields)
    {
        var raw = Find(fields, "grpc-status");
        var code = ParseStatusCode(raw);
        if (code < 0)
            return new Status(StatusCode.Unknown, raw is null ? "no grpc-status in the response" : $"invalid grpc-status '{raw}'");
        return new Status((StatusCode)code, PercentDecode(Find(fields, "grpc-message")));
    }
}
