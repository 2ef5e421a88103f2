using CsCheck;
using Google.Protobuf;
using Grpc.Core;
using MetaGpu.Tests.Echo;

namespace MetaGpu.Tests.Interop;

/// <summary>Random messages and metadata, many calls on one connection (CsCheck; a failure prints the smallest case it found).</summary>
public class PropertyInteropTests
{
    // Scalar values only: a lone surrogate cannot be encoded as UTF-8, so it would not round-trip through protobuf anyway.
    static readonly Gen<string> Text = Gen.Char['\u0001', '\uD7FF'].Array[0, 300].Select(chars => new string(chars));

    // Printable ASCII; no spaces at the ends, which HTTP does not promise to keep.
    static readonly Gen<string> HeaderValue = Gen.Char['!', '~'].Array[1, 300].Select(chars => new string(chars));

    static readonly Gen<string> HeaderName = Gen.Char["abcdefghijklmnopqrstuvwxyz0123456789-_."].Array[1, 24].Select(chars => "x-p-" + new string(chars));

    static readonly Gen<byte[]> Payload = Gen.Frequency(
        (6, Gen.Byte.Array[0, 2000]),
        (3, Gen.Byte.Array[2000, 70_000]),
        (1, Gen.Byte.Array[70_000, 400_000]));

    [Theory, AllPairs]
    public Task Unary_RandomMessagesAndMetadata_RoundTrip(Pair pair) => InteropHarness.RunAsync(pair, async env =>
    {
        await Gen.Select(Text, Payload, HeaderName, HeaderValue, Gen.Byte.Array[0, 600]).SampleAsync(async (text, payload, name, value, blob) =>
        {
            var headers = new Metadata { { name, value }, { name + "-bin", blob } };
            var reply = await env.Client.UnaryAsync(new EchoRequest { Text = text, Payload = ByteString.CopyFrom(payload) }, headers);
            Assert.Equal(text, reply.Text);
            Assert.True(payload.AsSpan().SequenceEqual(reply.Payload.Span), "payload altered");
            Assert.Contains($"{name}={value}", reply.SeenMetadata);
            Assert.Contains($"{name}-bin={Convert.ToBase64String(blob)}", reply.SeenMetadata);
        }, iter: 100, threads: 1,
            print: t => $"text of {t.Item1.Length} chars, payload of {t.Item2.Length} bytes, header {t.Item3}: {t.Item4.Length} chars, {t.Item3}-bin: {t.Item5.Length} bytes");
    }, timeout: TimeSpan.FromSeconds(60));
}
