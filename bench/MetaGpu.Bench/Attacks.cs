using System.Diagnostics;
using System.Globalization;
using System.Text;
using Grpc.Core;
using MetaGpu.Proto.Health.V1;
using MetaGpu.Rpc.Grpc;
using MetaGpu.Rpc.Http2;

namespace MetaGpu.Bench;

/// <summary>
/// Hostile peers against the published native binary (<c>metagpu serve</c>), one fresh daemon per attack: its peak
/// resident memory during the attack (VmHWM), what stays resident after, whether a fresh client's call still
/// answers while the attack holds on, and whether the daemon lives. Every attack is bounded in count and time,
/// and only talks to a Unix socket.
/// </summary>
static class Attacks
{
    const string Check = "/grpc.health.v1.Health/Check";
    static readonly TimeSpan AttackTime = TimeSpan.FromSeconds(15);

    sealed record Outcome(string Name, long IdleKiB, long PeakKiB, long AfterKiB, bool Answered, double AnswerMs, bool Alive, string Note);

    public static async Task<bool> RunAsync(string binary)
    {
        var w = Console.Out;
        if (!File.Exists(binary))
        {
            w.WriteLine($"FAILED: no file at {binary} (publish first: dotnet publish MetaGpu.csproj -c Release -r linux-x64 -o out)");
            return false;
        }
        w.WriteLine($"attacks on {binary} (metagpu serve), one fresh daemon each; targets: alive, fresh call answers, peak RSS < 48 MB;");
        w.WriteLine("after the 13,000-call burst and 2 s idle, RSS <= 13.7 MB");
        var attacks = new (string Name, Func<string, Task<string>> Run, TimeSpan Settle)[]
        {
            ("256 streams x 4 MiB partial message", PartialMessagesAsync, TimeSpan.FromSeconds(3)),
            ("32 non-reading PING flooders", PingFloodAsync, TimeSpan.FromSeconds(3)),
            ("4 connections, large parked headers", ParkedHeadersAsync, TimeSpan.FromSeconds(3)),
            ("1,030 idle connections", IdleConnectionsAsync, TimeSpan.FromSeconds(3)),
            ("rapid reset (HEADERS + RST_STREAM)", RapidResetAsync, TimeSpan.FromSeconds(3)),
            ("13,000-call burst, then 2 s idle", BurstAsync, TimeSpan.FromSeconds(2)),
        };
        var outcomes = new List<Outcome>();
        foreach (var (name, run, settle) in attacks)
        {
            w.WriteLine($"running: {name} ...");
            outcomes.Add(await RunOneAsync(binary, name, run, settle));
        }

        w.WriteLine();
        w.WriteLine($"{"attack",-40} {"idle MiB",9} {"peak MiB",9} {"after MiB",10} {"fresh call",12} {"alive",6}  note");
        var ok = true;
        foreach (var o in outcomes)
        {
            var burst = o.Name.StartsWith("13,000", StringComparison.Ordinal);
            var pass = o.Alive && o.Answered && o.PeakKiB * 1024 < 48_000_000 && (!burst || o.AfterKiB * 1024 <= 13_700_000);
            ok &= pass;
            w.WriteLine($"{o.Name,-40} {o.IdleKiB / 1024.0,9:0.0} {o.PeakKiB / 1024.0,9:0.0} {o.AfterKiB / 1024.0,10:0.0} {(o.Answered ? $"yes {o.AnswerMs:0} ms" : "NO"),12} {(o.Alive ? "yes" : "NO"),6}  {(pass ? "" : "MISSED TARGET ")}{o.Note}");
            var key = new string(o.Name.Where(char.IsLetterOrDigit).Take(24).ToArray());
            Line(key, "rss_peak", o.PeakKiB, "KiB");
            Line(key, "rss_after", o.AfterKiB, "KiB");
            Line(key, "fresh_call_answered", o.Answered ? 1 : 0, "bool");
            Line(key, "alive", o.Alive ? 1 : 0, "bool");
        }
        return ok;
    }

    static async Task<Outcome> RunOneAsync(string binary, string name, Func<string, Task<string>> attack, TimeSpan settle)
    {
        await using var daemon = await ServeProcess.StartAsync(binary, "mg-attack-");
        var socket = daemon.Socket;
        await Task.Delay(1000);
        var idle = daemon.StatusKiB("VmRSS:");
        FreshCall.Reset();
        string note;
        try
        {
            note = await attack(socket).WaitAsync(TimeSpan.FromSeconds(120));
        }
        catch (Exception e)
        {
            note = "attack ended: " + e.GetType().Name + ": " + e.Message;
        }
        var peak = daemon.HasExited ? -1 : daemon.StatusKiB("VmHWM:");
        await Task.Delay(settle);
        var alive = !daemon.HasExited;
        var after = alive ? daemon.StatusKiB("VmRSS:") : -1;
        return new Outcome(name, idle, peak, after, FreshCall.Answered, FreshCall.Milliseconds, alive, note);
    }

    /// <summary>A normal call from a new client while the attack holds on; the result goes into the table.</summary>
    static class FreshCall
    {
        public static bool Answered;
        public static double Milliseconds;

        public static void Reset()
        {
            Answered = false;
            Milliseconds = 0;
        }

        public static async Task<bool> TryAsync(string socket)
        {
            var t0 = Stopwatch.GetTimestamp();
            try
            {
                using var channel = new UnixChannel(socket);
                var reply = await new Health.HealthClient(channel).CheckAsync(new HealthCheckRequest(), deadline: DateTime.UtcNow.AddSeconds(5));
                Answered = reply.Status == HealthCheckResponse.Types.ServingStatus.Serving;
            }
            catch (RpcException)
            {
                Answered = false;
            }
            Milliseconds = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
            return Answered;
        }
    }

    static async Task<string> PartialMessagesAsync(string socket)
    {
        await using var peer = await AttackPeer.ConnectAsync(socket);
        await Task.Delay(100); // the server's SETTINGS (its stream window) first
        var message = new byte[4 * 1024 * 1024];
        message[1] = 0x00; // 5-byte prefix: not compressed, length 4 MiB - 5
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(message.AsSpan(1), (uint)(message.Length - 5));
        long sent = 0;
        var until = DateTime.UtcNow + AttackTime;
        for (var i = 0; i < 256 && DateTime.UtcNow < until && !peer.Closed; i++)
        {
            var id = 1 + 2 * i;
            if (!await peer.TrySendAsync(peer.RequestHeaders(id, Check, endStream: false), TimeSpan.FromSeconds(2)))
                break;
            // Everything but the last byte, as far as the windows let us.
            sent += await peer.SendDataWithinWindowAsync(id, message.AsMemory(0, message.Length - 1), TimeSpan.FromMilliseconds(200));
        }
        await FreshCall.TryAsync(socket);
        return $"{sent / (1024 * 1024)} MiB sent, {peer.Resets} streams reset, GOAWAY {peer.GoAway?.ToString() ?? "none"}{(peer.Closed ? ", closed" : "")}";
    }

    static async Task<string> PingFloodAsync(string socket)
    {
        var peers = new List<AttackPeer>();
        var pings = Enumerable.Range(0, 512).SelectMany(_ => AttackPeer.Frame(FrameType.Ping, FrameFlags.None, 0, new byte[8])).ToArray();
        long sent = 0;
        try
        {
            for (var i = 0; i < 32; i++)
                peers.Add(await AttackPeer.ConnectAsync(socket, read: false));
            var until = DateTime.UtcNow + AttackTime;
            var flooding = peers.Select(async p =>
            {
                // At most 64 MB of pings each, until the server stops reading us or the time is up.
                for (var n = 0; n < 64_000_000 / pings.Length && DateTime.UtcNow < until; n++)
                {
                    if (!await p.TrySendAsync(pings, TimeSpan.FromSeconds(1)))
                        return;
                    Interlocked.Add(ref sent, pings.Length);
                }
            }).ToArray();
            await Task.WhenAll(flooding);
            await FreshCall.TryAsync(socket);
            return $"{sent / 1_000_000} MB of PING sent in all, answers never read";
        }
        finally
        {
            foreach (var p in peers)
                await p.DisposeAsync();
        }
    }

    static async Task<string> ParkedHeadersAsync(string socket)
    {
        var peers = new List<AttackPeer>();
        var big = new StringBuilder();
        var random = new Random(7);
        while (big.Length < 60_000)
            big.Append((char)random.Next('a', 'z' + 1)); // little for Huffman to gain
        var value = big.ToString();
        var opened = 0;
        try
        {
            var until = DateTime.UtcNow + AttackTime;
            for (var c = 0; c < 4; c++)
            {
                var peer = await AttackPeer.ConnectAsync(socket);
                peers.Add(peer);
                await Task.Delay(50);
                // Streams whose handler waits for a request message that never comes: their headers stay.
                for (var i = 0; i < 256 && DateTime.UtcNow < until && !peer.Closed; i++)
                {
                    if (!await peer.TrySendAsync(peer.RequestHeaders(1 + 2 * i, Check, endStream: false, ("x-pad", value)), TimeSpan.FromSeconds(2)))
                        break;
                    opened++;
                }
            }
            await Task.Delay(500);
            await FreshCall.TryAsync(socket);
            return $"{opened} streams with 60 KB headers sent, {peers.Sum(p => p.Resets)} refused, GOAWAY {string.Join("/", peers.Select(p => p.GoAway?.ToString() ?? "none").Distinct())}";
        }
        finally
        {
            foreach (var p in peers)
                await p.DisposeAsync();
        }
    }

    static async Task<string> IdleConnectionsAsync(string socket)
    {
        var peers = new List<AttackPeer>();
        try
        {
            var until = DateTime.UtcNow + AttackTime;
            for (var i = 0; i < 1030 && DateTime.UtcNow < until; i++)
                peers.Add(await AttackPeer.ConnectAsync(socket));
            await Task.Delay(500);
            await FreshCall.TryAsync(socket);
            return $"{peers.Count} idle connections opened, {peers.Count(p => p.Closed)} closed by the server";
        }
        finally
        {
            foreach (var p in peers)
                await p.DisposeAsync();
        }
    }

    static async Task<string> RapidResetAsync(string socket)
    {
        await using var peer = await AttackPeer.ConnectAsync(socket);
        var rst = new byte[4];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(rst, (uint)Http2ErrorCode.Cancel);
        // Meanwhile, a well-behaved client keeps calling: its latency is the figure that matters.
        using var channel = new UnixChannel(socket);
        var client = new Health.HealthClient(channel);
        await client.CheckAsync(new HealthCheckRequest());
        var stop = new CancellationTokenSource();
        var latencies = new List<double>();
        var victim = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                var t0 = Stopwatch.GetTimestamp();
                await client.CheckAsync(new HealthCheckRequest(), deadline: DateTime.UtcNow.AddSeconds(5));
                lock (latencies)
                    latencies.Add(Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
                await Task.Delay(2);
            }
        });
        var streams = 0;
        var until = DateTime.UtcNow + AttackTime;
        for (var id = 1; id < 2 * 200_000 && DateTime.UtcNow < until && !peer.Closed; id += 2)
        {
            var frames = peer.RequestHeaders(id, Check, endStream: false).Concat(AttackPeer.Frame(FrameType.RstStream, FrameFlags.None, id, rst)).ToArray();
            if (!await peer.TrySendAsync(frames, TimeSpan.FromSeconds(2)))
                break;
            streams++;
        }
        stop.Cancel();
        await victim;
        await FreshCall.TryAsync(socket);
        double p50;
        lock (latencies)
        {
            latencies.Sort();
            p50 = latencies.Count > 0 ? latencies[latencies.Count / 2] : double.NaN;
        }
        return $"{streams} streams opened and reset, GOAWAY {peer.GoAway?.ToString() ?? "none"}; other client p50 {p50:0.00} ms over {latencies.Count} calls";
    }

    static async Task<string> BurstAsync(string socket)
    {
        using var channel = new UnixChannel(socket);
        var client = new Health.HealthClient(channel);
        var next = 0;
        var workers = Enumerable.Range(0, 16).Select(async _ =>
        {
            while (Interlocked.Increment(ref next) <= 13_000)
                await client.CheckAsync(new HealthCheckRequest(), deadline: DateTime.UtcNow.AddSeconds(10));
        });
        await Task.WhenAll(workers);
        await FreshCall.TryAsync(socket);
        return "13,000 Health.Check calls, 16 in flight; 'after' is 2 s later";
    }

    static void Line(string config, string figure, double value, string unit) =>
        Console.Out.WriteLine(FormattableString.Invariant($"BENCH {{\"config\":\"attack-{config}\",\"figure\":\"{figure}\",\"value\":{value},\"unit\":\"{unit}\"}}"));
}
