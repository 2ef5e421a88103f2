using MetaGpu.Fuzz;
using MetaGpu.Fuzz.Capture;

// MetaGpu.Fuzz TARGET              under libFuzzer (fuzz/run starts it through the dotnet-bridge driver)
// MetaGpu.Fuzz TARGET FILE|DIR...  replays inputs once each, e.g. a crash-* file; exit 1 if one fails
// MetaGpu.Fuzz capture DIR         records a Grpc.Net.Client session with our server into seed corpora
// MetaGpu.Fuzz list                the target names
// Before any product code runs: instrumented code needs a coverage map to write to (libFuzzer's replaces it).
CoverageMap.UseScratch();
if (args.Length == 0 || args[0] is "-h" or "--help")
{
    Console.Error.WriteLine("usage: MetaGpu.Fuzz TARGET [FILE|DIR...] | capture DIR | list");
    Console.Error.WriteLine("targets: " + string.Join(" ", FuzzTargets.Names));
    return 2;
}
if (args[0] == "list")
{
    foreach (var name in FuzzTargets.Names)
        Console.WriteLine(name);
    return 0;
}
if (args[0] == "capture")
{
    if (args.Length != 2)
    {
        Console.Error.WriteLine("usage: MetaGpu.Fuzz capture DIR");
        return 2;
    }
    await TrafficCapture.RunAsync(args[1]);
    return 0;
}
if (!FuzzTargets.TryCreate(args[0], out var target))
{
    Console.Error.WriteLine($"unknown target '{args[0]}'; targets: {string.Join(" ", FuzzTargets.Names)}");
    return 2;
}
return FuzzLoop.Run(target, args[1..]);
