using System.Buffers.Binary;
using System.Text;
using MetaGpu.Fuzz.Targets;
using MetaGpu.Rpc.Hpack;

namespace MetaGpu.Fuzz.Capture;

/// <summary>Cuts one captured connection into seed files, in each target's input format (see the targets' docs).</summary>
internal sealed class SeedWriter(string root)
{
    private static readonly Dictionary<string, string> RpcTargets = new(StringComparer.Ordinal)
    {
        ["/v1beta1.DevicePlugin/GetDevicePluginOptions"] = "rpc-options",
        ["/v1beta1.DevicePlugin/ListAndWatch"] = "rpc-listandwatch",
        ["/v1beta1.DevicePlugin/GetPreferredAllocation"] = "rpc-preferred",
        ["/v1beta1.DevicePlugin/Allocate"] = "rpc-allocate",
        ["/v1beta1.DevicePlugin/PreStartContainer"] = "rpc-prestart",
    };

    public void Add(string name, byte[] fromClient, byte[] fromServer)
    {
        var preface = WireFrames.Preface;
        if (!fromClient.AsSpan().StartsWith(preface))
            throw new InvalidDataException($"{name}: the client did not start with the HTTP/2 preface");
        var clientFrames = Parse(fromClient.AsSpan(preface.Length));
        Write("http2", name, fromClient.AsSpan(preface.Length));
        Write("hpack", name + "-client", LengthPrefixed(HeaderBlocks(clientFrames).Select(b => b.Block)));
        Write("hpack", name + "-server", LengthPrefixed(HeaderBlocks(Parse(fromServer)).Select(b => b.Block)));

        // Per request stream: its :path (decoding the client's blocks in order) and its DATA.
        var decoder = new HpackDecoder();
        foreach (var (streamId, block) in HeaderBlocks(clientFrames))
        {
            var path = new PathFinder();
            decoder.Decode(block, path);
            if (path.Path is null)
                continue;
            var body = Concat(clientFrames.Where(f => f.Type == WireFrames.Data && f.StreamId == streamId).Select(f => f.Payload));
            var method = Array.IndexOf(GrpcFramingTarget.Methods, path.Path);
            if (method >= 0)
                Write("grpc", $"{name}-{streamId}", GrpcFramingTarget.Seed(method, 0, body));
            if (RpcTargets.TryGetValue(path.Path, out var target) && body.Length >= 5)
            {
                var length = (int)BinaryPrimitives.ReadUInt32BigEndian(body.AsSpan(1));
                Write(target, $"{name}-{streamId}", [0, .. body.AsSpan(5, Math.Min(length, body.Length - 5))]);
            }
        }
    }

    private void Write(string target, string name, ReadOnlySpan<byte> bytes)
    {
        var directory = Path.Combine(root, target);
        Directory.CreateDirectory(directory);
        File.WriteAllBytes(Path.Combine(directory, name), bytes.ToArray());
    }

    private static List<(byte Type, byte Flags, int StreamId, byte[] Payload)> Parse(ReadOnlySpan<byte> bytes)
    {
        var frames = new List<(byte, byte, int, byte[])>();
        while (bytes.Length >= 9)
        {
            var length = (bytes[0] << 16) | (bytes[1] << 8) | bytes[2];
            if (bytes.Length < 9 + length)
                break;
            frames.Add((bytes[3], bytes[4], (int)(BinaryPrimitives.ReadUInt32BigEndian(bytes[5..]) & 0x7fffffff), bytes.Slice(9, length).ToArray()));
            bytes = bytes[(9 + length)..];
        }
        return frames;
    }

    /// <summary>Each HEADERS frame's block with its CONTINUATIONs, padding and priority removed.</summary>
    private static List<(int StreamId, byte[] Block)> HeaderBlocks(List<(byte Type, byte Flags, int StreamId, byte[] Payload)> frames)
    {
        var blocks = new List<(int, byte[])>();
        MemoryStream? open = null;
        var openStream = 0;
        foreach (var (type, flags, streamId, payload) in frames)
        {
            if (type == WireFrames.Headers)
            {
                var fragment = payload.AsSpan();
                if ((flags & 0x8) != 0)
                    fragment = fragment[1..^fragment[0]];
                if ((flags & 0x20) != 0)
                    fragment = fragment[5..];
                open = new MemoryStream();
                open.Write(fragment);
                openStream = streamId;
            }
            else if (type == 0x9 && open is not null)
            {
                open.Write(payload);
            }
            else
            {
                continue;
            }
            if ((flags & WireFrames.EndHeaders) != 0 && open is not null)
            {
                blocks.Add((openStream, open.ToArray()));
                open = null;
            }
        }
        return blocks;
    }

    private static byte[] LengthPrefixed(IEnumerable<byte[]> blocks)
    {
        var output = new MemoryStream();
        foreach (var block in blocks)
        {
            output.WriteByte((byte)(block.Length >> 8));
            output.WriteByte((byte)block.Length);
            output.Write(block);
        }
        return output.ToArray();
    }

    private static byte[] Concat(IEnumerable<byte[]> parts)
    {
        var output = new MemoryStream();
        foreach (var p in parts)
            output.Write(p);
        return output.ToArray();
    }

    private sealed class PathFinder : IHpackHeaderSink
    {
        public string? Path { get; private set; }

        public void OnHeader(ReadOnlySpan<byte> name, ReadOnlySpan<byte> value)
        {
            if (name.SequenceEqual(":path"u8))
                Path = Encoding.ASCII.GetString(value);
        }
    }
}
