using System.Text;
using CsCheck;
using MetaGpu.Usage.Metrics;

namespace MetaGpu.Tests.Usage.Metrics;

public class RequestHeadTests
{
    [Theory]
    [InlineData("GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n", 34)]
    [InlineData("GET / HTTP/1.1\n\n", 16)]
    [InlineData("GET / HTTP/1.1\r\n\n", 17)]
    [InlineData("GET / HTTP/1.1\r\nHost: t\r\n\r\nGET", 27)]
    [InlineData("GET / HTTP/1.1\r\nHost: t\r\n", -1)]
    [InlineData("GET / HTTP/1.1\r\nHost: t\r\n\r", -1)]
    [InlineData("GET / HTTP/1.1\n\r", -1)]
    [InlineData("", -1)]
    public void FindEnd_finds_the_empty_line(string text, int end)
    {
        Assert.Equal(end, RequestHead.FindEnd(Encoding.ASCII.GetBytes(text)));
    }

    [Fact]
    public void Parse_reads_method_path_and_keep_alive()
    {
        Assert.Equal(new RequestHead(0, RequestMethod.Get, RequestPath.Metrics, true), Parse("GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n"));
        Assert.Equal(new RequestHead(0, RequestMethod.Head, RequestPath.Healthz, false), Parse("HEAD /healthz HTTP/1.1\r\nhost: t\r\nConnection: keep-alive, Close\r\n\r\n"));
        Assert.Equal(new RequestHead(0, RequestMethod.Other, RequestPath.Other, false), Parse("OPTIONS /x HTTP/1.0\r\n\r\n"));
        Assert.Equal(0, Parse("GET /metrics HTTP/1.1\r\nHost: t\r\nContent-Length: 000\r\n\r\n").Status);
    }

    private static RequestHead Parse(string s) => RequestHead.Parse(Encoding.Latin1.GetBytes(s));

    [Fact]
    public void Parse_and_FindEnd_are_total_on_random_bytes()
    {
        Gen.Byte.Array[0, 600].Sample(bytes =>
        {
            var end = RequestHead.FindEnd(bytes);
            Assert.InRange(end, -1, bytes.Length);
            var head = RequestHead.Parse(end > 0 ? bytes.AsSpan(0, end) : bytes);
            Assert.True(head.Status is 0 or 400 or 413 or 505);
        }, iter: 20_000);
    }

    [Fact]
    public void Parse_is_total_on_mutated_requests()
    {
        var valid = Encoding.ASCII.GetBytes("GET /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
        Gen.Select(Gen.Int[0, valid.Length - 1], Gen.Byte, Gen.Int[0, 2]).Array[1, 6].Sample(mutations =>
        {
            var bytes = valid.ToList();
            foreach (var (at, b, kind) in mutations)
            {
                var i = Math.Min(at, bytes.Count - 1);
                if (kind == 0 && bytes.Count > 1)
                    bytes.RemoveAt(i);
                else if (kind == 1)
                    bytes.Insert(i, b);
                else
                    bytes[i] = b;
            }
            var head = RequestHead.Parse(bytes.ToArray());
            Assert.True(head.Status is 0 or 400 or 413 or 505);
        }, iter: 20_000);
    }
}
