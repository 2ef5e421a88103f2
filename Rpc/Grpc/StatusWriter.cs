using System.Globalization;
using Grpc.Core;
using MetaGpu.Rpc.Http2;

namespace MetaGpu.Rpc.Grpc;

/// <summary>Ends a call on the server side: the status as trailers, or as Trailers-Only when nothing was sent yet.</summary>
internal static class StatusWriter
{
    private static readonly string[] CodeTexts = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15", "16"];

    /// <summary>
    /// Sends the status with END_STREAM. <paramref name="httpStatus"/> is the Trailers-Only <c>:status</c>, or null when
    /// the response headers already went out. A stream the client already reset or lost is left alone.
    /// </summary>
    /// <summary>The trailers of a call that succeeded with nothing more to say, shared (the connection only reads them).</summary>
    private static readonly HeaderField[] OkTrailers = [new("grpc-status", "0")];

    public static async ValueTask SendAsync(Http2Stream stream, string? httpStatus, Status status, Metadata? trailers)
    {
        IReadOnlyList<HeaderField> fields = httpStatus is null && status.StatusCode == StatusCode.OK && string.IsNullOrEmpty(status.Detail) && (trailers is null || trailers.Count == 0)
            ? OkTrailers
            : Fields(httpStatus, status, trailers);
        try
        {
            await stream.WriteHeadersAsync(fields, endStream: true, flush: true).ConfigureAwait(false);
            // RFC 9113 8.1: a complete response may cut short a request the client is still sending.
            if (!stream.IsReadCompleted)
                stream.Reset(Http2ErrorCode.NoError);
        }
        catch (Exception e) when (e is Http2StreamAbortedException or InvalidOperationException)
        {
            // The client reset the stream or went away: nobody is left to tell.
        }
    }

    private static List<HeaderField> Fields(string? httpStatus, Status status, Metadata? trailers)
    {
        var fields = new List<HeaderField>(4 + (trailers?.Count ?? 0));
        if (httpStatus is not null)
        {
            fields.Add(new HeaderField(":status", httpStatus));
            fields.Add(new HeaderField("content-type", GrpcProtocol.ContentType));
        }
        var code = (int)status.StatusCode;
        fields.Add(new HeaderField("grpc-status", code is >= 0 and <= 16 ? CodeTexts[code] : code.ToString(CultureInfo.InvariantCulture)));
        if (!string.IsNullOrEmpty(status.Detail))
            fields.Add(new HeaderField("grpc-message", GrpcProtocol.PercentEncode(status.Detail)));
        GrpcProtocol.AddMetadata(fields, trailers);
        return fields;
    }
}
