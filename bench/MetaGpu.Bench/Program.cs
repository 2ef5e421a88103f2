using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Encodings.Web;
using System.Text.Json;
using Google.Protobuf;
using MetaGpu.Tests.Echo;

namespace MetaGpu.Bench;

/// <summary>Command-line settings; see <see cref="Program.Usage"/>.</summary>
public sealed record BenchOptions
{
    public int Calls { get; init; } = 20_000;
    public int Warmup { get; init; } = 2_000;
    public int Concurrency { get; init; } = 16;
    public int PayloadSize { get; init; } = 100;
    public int SmallStreamCount { get; init; } = 100_000;
    public int SmallStreamSize { get; init; } = 1024;
    public int LargeStreamCount { get; init; } = 200;
    public int LargeStreamSize { get; init; } = 1024 * 1024;
    public bool OnlyReference { get; init; }
    public bool SkipStreaming { get; init; }
    public string? Binary { get; init; }
    public string? AttackBinary { get; init; }
    public int? Scrapes { get; init; }
    public int? UsageRefreshes { get; init; }
    public int? ControlCalls { get; init; }
    public bool Trace { get; init; }
    public int Traces { get; init; } = 100;
    public int Seed { get; init; } = 1;
    public string? KubeletBinary { get; init; }
    public string? GrpcGoDir { get; init; }
    public int Launches { get; init; } = 5;
    public int KubeletCalls { get; init; } = 13_000;
    public int Restarts { get; init; } = 20;
    public int GrpcNetLaunches { get; init; } = 1;
    public TimeSpan PhaseTimeout { get; init; } = TimeSpan.FromSeconds(90);
    public TimeSpan? GivenTotalTimeout { get; init; }
    public string? SoakBinary { get; init; }
    public int SoakMinutes { get; init; } = 10;

    /// <summary>--max-seconds, else 10 minutes; a soak gets its minutes and 3 more (start-up, the gcc build, the wind-down).</summary>
    public TimeSpan TotalTimeout => GivenTotalTimeout ?? (SoakBinary is null ? TimeSpan.FromMinutes(10) : TimeSpan.FromMinutes(SoakMinutes + 3));
}

/// <summary>One measured figure; printed as a row of the table and as one machine-readable line.</summary>
public sealed record Figure(string Config, string Name, double Value, string Unit);

public static class Program
{
    public const string Usage = """
        usage: MetaGpu.Bench [options]

        Unary round trips and server streaming over a Unix socket, for
          ours->ours        our client (UnixChannel) -> our server (GrpcServer)
          grpcnet->kestrel  Grpc.Net.Client -> Kestrel + Grpc.AspNetCore (the reference)
          grpcnet->ours     Grpc.Net.Client -> our server
        all in this one process, one HTTP/2 connection per configuration.

        options:
          --calls N            unary calls measured, sequential and concurrent (default 20000)
          --warmup N           unary calls before measuring (default 2000)
          --concurrency N      calls in flight in the concurrent run (default 16)
          --payload N          unary payload bytes (default 100)
          --stream-small N     messages of 1 KiB in the small-message stream (default 100000)
          --stream-large N     messages of 1 MiB in the large-message stream (default 200)
          --no-streaming       skip the streaming figures
          --only-reference     measure only grpcnet->kestrel
          --binary PATH        also measure the published native binary: its size, its resident memory
                               serving one socket idle and after calls, and unary latency against it
          --attacks PATH       only run the attacks against the published native binary (metagpu serve):
                               partial messages, PING flood, parked headers, idle connections, rapid reset,
                               a 13,000-call burst; peak and after RSS, fresh call answered, daemon alive
          --usage [N]          only measure usage monitoring at 8 GPUs x 64 processes: N refreshes (default 200) of
                               the workload view with the product's parts, and rendering /metrics from it
          --scrape [N]         only measure the /metrics scrape at 8 GPUs x 64 processes: rendering and a
                               whole HTTP scrape over loopback, N scrapes (default 5000); and Histogram.Observe
          --control [N]        only measure control calls (what mgctl asks) against the control service with the
                               kernel's credentials checked: Ping and ListContainers at 8 GPUs x 64 processes,
                               concurrency 1 and 8, N calls each (default 5000)
          --trace              only replay random pod arrivals and departures (admission by count, as the kubelet
                               does) under MetaGPU's policies and best fit, first fit and most free: forced splits
                               and GPUs per pod, mean ± standard error over the traces, per node shape
          --traces N           traces per node shape in --trace (default 100, at least 2)
          --seed S             the seed of the --trace traces (default 1): the same seed gives the same numbers
          --kubelet PATH       only the kubelet's view of the published binary beside the grpc-go reference plugin:
                               kubeletsim (grpc-go) launches `PATH start --simulate 8` (usage and metrics on) and
                               refplugin alternately: launch -> devices listed, RSS, Allocate, GetDevicePluginOptions
                               and GetPreferredAllocation latency at concurrency 1 and 8, re-registration after
                               kubelet restarts; then the same calls from Grpc.Net.Client; ratios ours / reference
          --grpcgo-dir DIR     kubeletsim and refplugin already built there (default: bench/grpcgo/build into a
                               temporary folder)
          --launches N         launches of each plugin with kubeletsim (default 5)
          --kubelet-calls N    calls per launch, warm-up included (default 13000)
          --restarts N         kubelet restarts per plugin over its launches (default 20)
          --grpcnet-launches N launches of each plugin with the Grpc.Net.Client driver (default 1; 0 skips it)
          --phase-timeout S    seconds one measurement may take before it is abandoned (default 90)
          --soak PATH          only soak the published binary: `PATH start` (usage, metrics, control API on) for
                               --soak-minutes under pods coming and going (GetPreferredAllocation + Allocate),
                               kubelet restarts, GPU health flaps (the tests' fake NVML), config changes, mgctl -w
                               watchers and /metrics scrapes, all at once; each minute RSS, RssAnon, open fds and
                               threads; exit 1 unless each stayed flat after the first minute and nothing failed
          --soak-minutes N     how long the soak runs (default 10; at least 3 to be judged)
          --max-seconds S      the whole run's limit; the process exits with 3 past it (default 600; a soak's
                               minutes + 3 minutes)

        Lines starting with "BENCH " are JSON, one figure each.
        """;

    public static async Task<int> Main(string[] args)
    {
        BenchOptions options;
        try
        {
            options = Parse(args);
        }
        catch (ArgumentException e)
        {
            Console.Error.WriteLine($"MetaGpu.Bench: {e.Message}\n\n{Usage}");
            return 2;
        }
        if (options is null)
        {
            Console.Out.WriteLine(Usage);
            return 0;
        }

        // However our side behaves, the run ends.
        _ = Task.Delay(options.TotalTimeout).ContinueWith(_ =>
        {
            Console.Error.WriteLine($"MetaGpu.Bench: gave up after {options.TotalTimeout.TotalSeconds} s");
            Environment.Exit(3);
        }, TaskScheduler.Default);

        if (options.SoakBinary is not null)
            return await SoakBench.RunAsync(options.SoakBinary, options.SoakMinutes) ? 0 : 1;
        if (options.Trace)
            return TraceBench.Run(options.Traces, options.Seed) ? 0 : 1;
        if (options.UsageRefreshes is { } refreshes)
            return await UsageBench.RunAsync(refreshes) ? 0 : 1;
        if (options.ControlCalls is { } controlCalls)
            return await ControlBench.RunAsync(controlCalls) ? 0 : 1;
        if (options.KubeletBinary is not null)
            return await KubeletBench.RunAsync(options) ? 0 : 1;
        if (options.Scrapes is { } scrapes)
            return await ScrapeBench.RunAsync(scrapes) ? 0 : 1;

        if (options.AttackBinary is not null)
            return await Attacks.RunAsync(options.AttackBinary) ? 0 : 1;

        var configs = options.OnlyReference
            ? new[] { Config.Reference }
            : new[] { Config.OursToOurs, Config.Reference, Config.GrpcNetToOurs };

        PrintHeader(options);
        var report = new Report();
        foreach (var config in configs)
        {
            Console.Out.WriteLine($"running {config.Name} ...");
            await RunConfig(config, options, report);
            GC.Collect();
            GC.WaitForPendingFinalizers();
        }

        report.Print(options, configs);
        var nativeOk = true;
        if (options.Binary is not null)
            nativeOk = await NativeFootprint.RunAsync(options.Binary, options);
        return report.Failures.Count == 0 && nativeOk ? 0 : 1;
    }

    static BenchOptions Parse(string[] args)
    {
        var o = new BenchOptions();
        for (var i = 0; i < args.Length; i++)
        {
            int Int()
            {
                if (i + 1 >= args.Length || !int.TryParse(args[i + 1], NumberStyles.None, CultureInfo.InvariantCulture, out var v) || v <= 0)
                    throw new ArgumentException($"{args[i]} needs a positive whole number");
                i++;
                return v;
            }
            int Zero()
            {
                i++;
                return 0;
            }
            o = args[i] switch
            {
                "--calls" => o with { Calls = Int() },
                "--warmup" => o with { Warmup = Int() },
                "--concurrency" => o with { Concurrency = Int() },
                "--payload" => o with { PayloadSize = Int() },
                "--stream-small" => o with { SmallStreamCount = Int() },
                "--stream-large" => o with { LargeStreamCount = Int() },
                "--no-streaming" => o with { SkipStreaming = true },
                "--only-reference" => o with { OnlyReference = true },
                "--binary" => o with { Binary = i + 1 < args.Length ? args[++i] : throw new ArgumentException("--binary needs a path") },
                "--attacks" => o with { AttackBinary = i + 1 < args.Length ? args[++i] : throw new ArgumentException("--attacks needs a path") },
                "--usage" => o with { UsageRefreshes = i + 1 < args.Length && !args[i + 1].StartsWith('-') ? Int() : 200 },
                "--control" => o with { ControlCalls = i + 1 < args.Length && !args[i + 1].StartsWith('-') ? Int() : 5000 },
                "--scrape" => o with { Scrapes = i + 1 < args.Length && !args[i + 1].StartsWith('-') ? Int() : 5000 },
                "--trace" => o with { Trace = true },
                "--traces" => o with { Traces = Int() is var t && t >= 2 ? t : throw new ArgumentException("--traces needs at least 2 (a standard error needs two)") },
                "--seed" => o with { Seed = Int() },
                "--kubelet" => o with { KubeletBinary = i + 1 < args.Length ? args[++i] : throw new ArgumentException("--kubelet needs a path") },
                "--grpcgo-dir" => o with { GrpcGoDir = i + 1 < args.Length ? args[++i] : throw new ArgumentException("--grpcgo-dir needs a path") },
                "--launches" => o with { Launches = Int() },
                "--kubelet-calls" => o with { KubeletCalls = Int() },
                "--restarts" => o with { Restarts = i + 1 < args.Length && args[i + 1] == "0" ? Zero() : Int() },
                "--grpcnet-launches" => o with { GrpcNetLaunches = i + 1 < args.Length && args[i + 1] == "0" ? Zero() : Int() },
                "--phase-timeout" => o with { PhaseTimeout = TimeSpan.FromSeconds(Int()) },
                "--soak" => o with { SoakBinary = i + 1 < args.Length ? args[++i] : throw new ArgumentException("--soak needs a path") },
                "--soak-minutes" => o with { SoakMinutes = Int() },
                "--max-seconds" => o with { GivenTotalTimeout = TimeSpan.FromSeconds(Int()) },
                "-h" or "--help" => null!,
                _ => throw new ArgumentException($"unknown option '{args[i]}'"),
            };
            if (o is null)
                return null!;
        }
        return o;
    }

    static void PrintHeader(BenchOptions o)
    {
        var build =
#if DEBUG
            "Debug (figures are not meaningful: run with -c Release)";
#else
            "Release";
#endif
        Console.Out.WriteLine($"MetaGPU gRPC transport benchmark ({build})");
        Console.Out.WriteLine($"{RuntimeInformation.FrameworkDescription}, {RuntimeInformation.RuntimeIdentifier}, {Environment.ProcessorCount} cores, " +
            $"GC {(System.Runtime.GCSettings.IsServerGC ? "server" : "workstation")}");
        Console.Out.WriteLine($"unary: {o.PayloadSize}-byte payload, {o.Warmup} warm-up + {o.Calls} calls sequential, then {o.Calls} calls with {o.Concurrency} in flight");
        if (!o.SkipStreaming)
            Console.Out.WriteLine($"server streaming: {o.SmallStreamCount} x {Size(o.SmallStreamSize)}, {o.LargeStreamCount} x {Size(o.LargeStreamSize)}");
        Console.Out.WriteLine();
    }

    static string Size(int bytes) => bytes % (1024 * 1024) == 0 ? $"{bytes / (1024 * 1024)} MiB" : bytes % 1024 == 0 ? $"{bytes / 1024} KiB" : $"{bytes} B";

    static async Task RunConfig(Config config, BenchOptions o, Report report)
    {
        var directory = Path.Combine(Path.GetTempPath(), "mg-bench-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(directory);
        var socketPath = Path.Combine(directory, "echo.sock");
        IBenchServer? server = null;
        BenchClient? client = null;
        var phase = "starting the server";
        try
        {
            server = await IBenchServer.StartAsync(config.Server, socketPath);
            phase = "creating the client";
            client = BenchClient.Create(config.Client, socketPath);

            var request = new EchoRequest { Text = "bench", Payload = ByteString.CopyFrom(new byte[o.PayloadSize]) };

            phase = "unary warm-up";
            await Bounded(o, ct => Unary.Sequential(client, request, o.Warmup, ct));

            phase = "unary, sequential";
            var allocatedBefore = GC.GetTotalAllocatedBytes(precise: true);
            var sequential = await Bounded(o, ct => Unary.Sequential(client, request, o.Calls, ct));
            // Client and server share the process, so this is both sides' garbage per round trip.
            report.Add(config, "unary_seq_alloc", (GC.GetTotalAllocatedBytes(precise: true) - allocatedBefore) / (double)o.Calls, "bytes/call");
            report.Add(config, "unary_seq_p50", sequential.P50Us, "us");
            report.Add(config, "unary_seq_p99", sequential.P99Us, "us");
            report.Add(config, "unary_seq_mean", sequential.MeanUs, "us");
            report.Add(config, "unary_seq_rate", sequential.CallsPerSecond, "calls/s");

            phase = $"unary, {o.Concurrency} in flight";
            var concurrent = await Bounded(o, ct => Unary.Concurrent(client, request, o.Calls, o.Concurrency, ct));
            report.Add(config, "unary_conc_p50", concurrent.P50Us, "us");
            report.Add(config, "unary_conc_p99", concurrent.P99Us, "us");
            report.Add(config, "unary_conc_rate", concurrent.CallsPerSecond, "calls/s");

            if (config.Streaming && !o.SkipStreaming)
            {
                phase = "streaming warm-up";
                await Bounded(o, ct => Streaming.Run(client, 2000, o.SmallStreamSize, ct));
                await Bounded(o, ct => Streaming.Run(client, 5, o.LargeStreamSize, ct));

                phase = $"streaming {o.SmallStreamCount} x {Size(o.SmallStreamSize)}";
                var small = await Bounded(o, ct => Streaming.Run(client, o.SmallStreamCount, o.SmallStreamSize, ct));
                report.Add(config, "stream_small_msgs", small.MessagesPerSecond, "msgs/s");
                report.Add(config, "stream_small_mib", small.MiBPerSecond, "MiB/s");

                phase = $"streaming {o.LargeStreamCount} x {Size(o.LargeStreamSize)}";
                var large = await Bounded(o, ct => Streaming.Run(client, o.LargeStreamCount, o.LargeStreamSize, ct));
                report.Add(config, "stream_large_msgs", large.MessagesPerSecond, "msgs/s");
                report.Add(config, "stream_large_mib", large.MiBPerSecond, "MiB/s");
            }
        }
        catch (Exception e)
        {
            report.Fail(config, phase, e);
        }
        finally
        {
            try
            {
                client?.Dispose();
                if (server is not null)
                    await server.DisposeAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(10));
            }
            catch (Exception e)
            {
                report.Fail(config, "shutting down", e);
            }
            try
            {
                Directory.Delete(directory, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }

    static async Task<T> Bounded<T>(BenchOptions o, Func<CancellationToken, Task<T>> phase)
    {
        using var cts = new CancellationTokenSource(o.PhaseTimeout);
        try
        {
            return await phase(cts.Token).WaitAsync(o.PhaseTimeout + TimeSpan.FromSeconds(5));
        }
        catch (Exception e) when (cts.IsCancellationRequested || e is TimeoutException)
        {
            throw new TimeoutException($"did not finish within {o.PhaseTimeout.TotalSeconds} s", e);
        }
    }

    static readonly JsonSerializerOptions JsonOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    static string Json(Dictionary<string, object> fields) => JsonSerializer.Serialize(fields, JsonOptions);

    sealed class Report
    {
        readonly List<Figure> figures = [];
        public readonly List<(Config Config, string Phase, Exception Error)> Failures = [];

        public void Add(Config config, string name, double value, string unit)
        {
            var figure = new Figure(config.Name, name, Math.Round(value, 2), unit);
            figures.Add(figure);
            Console.Out.WriteLine("BENCH " + Json(new Dictionary<string, object>
            {
                ["config"] = figure.Config,
                ["figure"] = figure.Name,
                ["value"] = figure.Value,
                ["unit"] = figure.Unit,
            }));
        }

        public void Fail(Config config, string phase, Exception e)
        {
            Failures.Add((config, phase, e));
            var root = e is AggregateException { InnerException: { } inner } ? inner : e;
            Console.Out.WriteLine("BENCH " + Json(new Dictionary<string, object>
            {
                ["config"] = config.Name,
                ["figure"] = "failed",
                ["phase"] = phase,
                ["error"] = $"{root.GetType().Name}: {root.Message}",
            }));
        }

        double? Get(Config config, string name) => figures.FirstOrDefault(f => f.Config == config.Name && f.Name == name)?.Value;

        string Cell(Config config, string name, string format) => Get(config, name) is { } v ? v.ToString(format, CultureInfo.InvariantCulture) : "-";

        public void Print(BenchOptions o, Config[] configs)
        {
            var w = Console.Out;
            w.WriteLine();
            w.WriteLine($"unary, sequential on one connection ({o.Calls} calls, {o.PayloadSize}-byte payload)");
            w.WriteLine($"  {"",-30} {"p50 us",9} {"p99 us",9} {"mean us",9} {"calls/s",10} {"alloc B/call",13}");
            foreach (var c in configs)
                w.WriteLine($"  {c.Label,-30} {Cell(c, "unary_seq_p50", "0.0"),9} {Cell(c, "unary_seq_p99", "0.0"),9} {Cell(c, "unary_seq_mean", "0.0"),9} {Cell(c, "unary_seq_rate", "0"),10} {Cell(c, "unary_seq_alloc", "0"),13}");

            w.WriteLine();
            w.WriteLine($"unary, {o.Concurrency} calls in flight on one connection ({o.Calls} calls)");
            w.WriteLine($"  {"",-30} {"p50 us",9} {"p99 us",9} {"",9} {"calls/s",10}");
            foreach (var c in configs)
                w.WriteLine($"  {c.Label,-30} {Cell(c, "unary_conc_p50", "0.0"),9} {Cell(c, "unary_conc_p99", "0.0"),9} {"",9} {Cell(c, "unary_conc_rate", "0"),10}");

            if (!o.SkipStreaming)
            {
                w.WriteLine();
                w.WriteLine("server streaming, one call");
                w.WriteLine($"  {"",-30} {"",-16} {"msgs/s",10} {"MiB/s",9}");
                foreach (var c in configs.Where(c => c.Streaming))
                {
                    w.WriteLine($"  {c.Label,-30} {$"{o.SmallStreamCount} x {Size(o.SmallStreamSize)}",-16} {Cell(c, "stream_small_msgs", "0"),10} {Cell(c, "stream_small_mib", "0.0"),9}");
                    w.WriteLine($"  {c.Label,-30} {$"{o.LargeStreamCount} x {Size(o.LargeStreamSize)}",-16} {Cell(c, "stream_large_msgs", "0"),10} {Cell(c, "stream_large_mib", "0.0"),9}");
                }
            }

            w.WriteLine();
            var reference = Get(Config.Reference, "unary_seq_p50");
            foreach (var c in new[] { Config.OursToOurs, Config.GrpcNetToOurs })
            {
                if (!configs.Contains(c))
                    continue;
                if (Get(c, "unary_seq_p50") is { } ours && reference is { } kestrel && kestrel > 0)
                {
                    var ratio = ours / kestrel;
                    w.WriteLine($"p50 ratio {c.Name} / grpcnet->kestrel: {ratio.ToString("0.00", CultureInfo.InvariantCulture)} ({(ratio < 1 ? "faster" : "slower")} than the reference)");
                    figures.Add(new Figure(c.Name, "unary_seq_p50_ratio_to_reference", Math.Round(ratio, 3), "x"));
                    Console.Out.WriteLine("BENCH " + Json(new Dictionary<string, object>
                    {
                        ["config"] = c.Name,
                        ["figure"] = "unary_seq_p50_ratio_to_reference",
                        ["value"] = Math.Round(ratio, 3),
                        ["unit"] = "x",
                    }));
                }
                else
                {
                    w.WriteLine($"p50 ratio {c.Name} / grpcnet->kestrel: -");
                }
            }

            foreach (var (config, phase, error) in Failures)
            {
                var root = error is AggregateException { InnerException: { } inner } ? inner : error;
                w.WriteLine($"FAILED {config.Name} while {phase}: {root.GetType().Name}: {root.Message}");
            }
        }
    }
}

/// <summary>Latency figures of a set of unary calls.</summary>
public sealed record UnaryResult(double P50Us, double P99Us, double MeanUs, double CallsPerSecond);

static class Unary
{
    public static async Task<UnaryResult> Sequential(BenchClient client, EchoRequest request, int calls, CancellationToken ct)
    {
        var latencies = new long[calls];
        var start = Stopwatch.GetTimestamp();
        for (var i = 0; i < calls; i++)
        {
            var t0 = Stopwatch.GetTimestamp();
            var reply = await client.Echo.UnaryAsync(request, cancellationToken: ct);
            latencies[i] = Stopwatch.GetTimestamp() - t0;
            if (reply.Payload.Length != request.Payload.Length)
                throw new InvalidOperationException("wrong reply");
        }
        return Summarize(latencies, Stopwatch.GetElapsedTime(start));
    }

    public static async Task<UnaryResult> Concurrent(BenchClient client, EchoRequest request, int calls, int concurrency, CancellationToken ct)
    {
        var latencies = new long[calls];
        var next = -1;
        var start = Stopwatch.GetTimestamp();
        await Task.WhenAll(Enumerable.Range(0, concurrency).Select(_ => Task.Run(async () =>
        {
            for (var i = Interlocked.Increment(ref next); i < calls; i = Interlocked.Increment(ref next))
            {
                var t0 = Stopwatch.GetTimestamp();
                var reply = await client.Echo.UnaryAsync(request, cancellationToken: ct);
                latencies[i] = Stopwatch.GetTimestamp() - t0;
                if (reply.Payload.Length != request.Payload.Length)
                    throw new InvalidOperationException("wrong reply");
            }
        }, ct)));
        return Summarize(latencies, Stopwatch.GetElapsedTime(start));
    }

    static UnaryResult Summarize(long[] ticks, TimeSpan elapsed)
    {
        Array.Sort(ticks);
        double Us(double t) => t * 1_000_000.0 / Stopwatch.Frequency;
        double Percentile(double p) => Us(ticks[Math.Clamp((int)Math.Ceiling(p * ticks.Length) - 1, 0, ticks.Length - 1)]);
        return new UnaryResult(Percentile(0.50), Percentile(0.99), Us(ticks.Average()), ticks.Length / elapsed.TotalSeconds);
    }
}

/// <summary>Throughput of one server-streaming call.</summary>
public sealed record StreamResult(double MessagesPerSecond, double MiBPerSecond);

static class Streaming
{
    public static async Task<StreamResult> Run(BenchClient client, int count, int size, CancellationToken ct)
    {
        var start = Stopwatch.GetTimestamp();
        using var call = client.Echo.ServerStream(new StreamRequest { Count = count, PayloadSize = size }, cancellationToken: ct);
        var received = 0;
        long bytes = 0;
        while (await call.ResponseStream.MoveNext(ct))
        {
            var reply = call.ResponseStream.Current;
            if (reply.Sequence != received)
                throw new InvalidOperationException($"message {reply.Sequence} arrived as number {received}");
            bytes += reply.Payload.Length;
            received++;
        }
        var elapsed = Stopwatch.GetElapsedTime(start);
        if (received != count || bytes != (long)count * size)
            throw new InvalidOperationException($"received {received} messages, {bytes} bytes; expected {count} x {size}");
        return new StreamResult(count / elapsed.TotalSeconds, bytes / (1024.0 * 1024.0) / elapsed.TotalSeconds);
    }
}
