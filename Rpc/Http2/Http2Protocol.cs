namespace MetaGpu.Rpc.Http2;

/// <summary>Frame types of RFC 9113 section 6.</summary>
public enum FrameType : byte
{
    Data = 0x0,
    Headers = 0x1,
    Priority = 0x2,
    RstStream = 0x3,
    Settings = 0x4,
    PushPromise = 0x5,
    Ping = 0x6,
    GoAway = 0x7,
    WindowUpdate = 0x8,
    Continuation = 0x9,
}

/// <summary>Frame flags; their meaning depends on the frame type.</summary>
[Flags]
public enum FrameFlags : byte
{
    None = 0,
    EndStream = 0x1,
    Ack = 0x1,
    EndHeaders = 0x4,
    Padded = 0x8,
    Priority = 0x20,
}

/// <summary>Error codes of RFC 9113 section 7.</summary>
public enum Http2ErrorCode : uint
{
    NoError = 0x0,
    ProtocolError = 0x1,
    InternalError = 0x2,
    FlowControlError = 0x3,
    SettingsTimeout = 0x4,
    StreamClosed = 0x5,
    FrameSizeError = 0x6,
    RefusedStream = 0x7,
    Cancel = 0x8,
    CompressionError = 0x9,
    ConnectError = 0xa,
    EnhanceYourCalm = 0xb,
    InadequateSecurity = 0xc,
    Http11Required = 0xd,
}

/// <summary>SETTINGS identifiers of RFC 9113 section 6.5.2.</summary>
public enum SettingId : ushort
{
    HeaderTableSize = 0x1,
    EnablePush = 0x2,
    MaxConcurrentStreams = 0x3,
    InitialWindowSize = 0x4,
    MaxFrameSize = 0x5,
    MaxHeaderListSize = 0x6,
}

public static class Http2Limits
{
    public const int FrameHeaderLength = 9;

    /// <summary>
    /// We never send nor accept frames over the protocol minimum: grpc-go treats larger ones as a
    /// connection error whatever MAX_FRAME_SIZE says.
    /// </summary>
    public const int MaxFrameSize = 16384;

    public const int DefaultWindowSize = 65535;
    public const int MaxWindowSize = int.MaxValue;

    public static ReadOnlySpan<byte> ClientPreface => "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"u8;
}

/// <summary>A connection error: GOAWAY with <see cref="Code"/>, then the connection closes.</summary>
public sealed class Http2ConnectionException(Http2ErrorCode code, string message) : Exception(message)
{
    public Http2ErrorCode Code { get; } = code;
}

/// <summary>A stream error: RST_STREAM with <see cref="Code"/>; the connection goes on.</summary>
public sealed class Http2StreamException(int streamId, Http2ErrorCode code, string message) : Exception(message)
{
    public int StreamId { get; } = streamId;
    public Http2ErrorCode Code { get; } = code;
}
