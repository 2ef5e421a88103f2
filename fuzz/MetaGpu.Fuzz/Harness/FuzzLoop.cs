namespace MetaGpu.Fuzz;

/// <summary>Runs a target under libFuzzer (through SharpFuzz) or replays files through it.</summary>
internal static class FuzzLoop
{
    /// <summary>Set by the driver; without it there is no libFuzzer parent and the arguments are files to replay.</summary>
    private const string SharedMemoryVariable = "__LIBFUZZER_SHM_ID";

    /// <summary>A corpus folder to run once before libFuzzer's first input, so JIT compilation is not counted against -timeout.</summary>
    public const string WarmupVariable = "METAGPU_FUZZ_WARMUP";

    public static int Run(IFuzzTarget target, string[] files)
    {
        CoverageMap.UseScratch();
        if (Environment.GetEnvironmentVariable(SharedMemoryVariable) is null)
            return Replay(target, files);

        if (Environment.GetEnvironmentVariable(WarmupVariable) is { Length: > 0 } warmup && Directory.Exists(warmup))
        {
            foreach (var file in Directory.EnumerateFiles(warmup).Order(StringComparer.Ordinal).Take(64))
            {
                try
                {
                    target.Run(File.ReadAllBytes(file));
                }
                catch (Exception)
                {
                    // libFuzzer runs the corpus next and reports this input properly.
                }
            }
        }
        SharpFuzz.Fuzzer.LibFuzzer.Run(input => target.Run(input));
        return 0;
    }

    private static int Replay(IFuzzTarget target, string[] paths)
    {
        if (paths.Length == 0)
        {
            Console.Error.WriteLine("no libFuzzer parent: give the input files (or folders) to replay");
            return 2;
        }
        var failed = 0;
        var ran = 0;
        var slowest = (Ms: 0.0, File: "");
        foreach (var path in paths)
        {
            IEnumerable<string> files = Directory.Exists(path) ? Directory.EnumerateFiles(path).Order(StringComparer.Ordinal) : [path];
            foreach (var file in files)
            {
                ran++;
                var input = File.ReadAllBytes(file);
                var started = System.Diagnostics.Stopwatch.GetTimestamp();
                try
                {
                    target.Run(input);
                }
                catch (Exception e)
                {
                    failed++;
                    Console.Error.WriteLine($"{file}: {e}");
                }
                var ms = System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalMilliseconds;
                if (ms > slowest.Ms)
                    slowest = (ms, file);
            }
        }
        if (Environment.GetEnvironmentVariable("METAGPU_FUZZ_LOG") == "1")
        {
            ThreadPool.GetMaxThreads(out var workers, out _);
            Console.Error.WriteLine($"thread pool: {ThreadPool.ThreadCount} threads, at most {workers} workers");
        }
        // The first input also pays for JIT compilation; libFuzzer's runs warm up first.
        Console.Error.WriteLine(string.Create(System.Globalization.CultureInfo.InvariantCulture, $"slowest input: {slowest.Ms:F1} ms ({slowest.File})"));
        Console.WriteLine($"{ran - failed} passed, {failed} failed");
        return failed == 0 ? 0 : 1;
    }
}
