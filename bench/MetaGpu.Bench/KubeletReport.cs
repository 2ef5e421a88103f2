using System.Globalization;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace MetaGpu.Bench;

/// <summary>
/// The kubelet benchmark's summary: every figure of ours beside the reference's, per driver, with the ratio
/// ours / reference (every figure is lower-is-better, so below 1 is ours ahead); ratios also as BENCH lines.
/// </summary>
static class KubeletReport
{
    static readonly JsonSerializerOptions Json = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static void WriteLine(KubeletFigure f) =>
        Console.Out.WriteLine("BENCH " + JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["config"] = f.Config,
            ["driver"] = f.Driver,
            ["figure"] = f.Name,
            ["value"] = f.Value,
            ["unit"] = f.Unit,
        }, Json));

    public static void Print(IReadOnlyList<KubeletFigure> figures)
    {
        string[] drivers = [KubeletBench.GrpcGoDriver, KubeletBench.GrpcNetDriver];
        var names = figures.Select(f => f.Name).Distinct().ToList();
        double? Get(string driver, string config, string name) =>
            figures.FirstOrDefault(f => f.Driver == driver && f.Config == config && f.Name == name)?.Value;
        double? Ratio(string driver, string name) =>
            Get(driver, KubeletPlugin.OursName, name) is { } ours && Get(driver, KubeletPlugin.ReferenceName, name) is { } reference && reference > 0
                ? Math.Round(ours / reference, 3) : null;

        Console.Out.WriteLine();
        foreach (var driver in drivers)
        {
            foreach (var name in names)
            {
                if (Ratio(driver, name) is { } ratio)
                    WriteLine(new KubeletFigure($"{KubeletPlugin.OursName}/{KubeletPlugin.ReferenceName}", driver, name, ratio, "x"));
            }
        }

        static string Cell(double? v) => v is { } x ? x.ToString(x >= 10_000 ? "0" : "0.0", CultureInfo.InvariantCulture) : "-";
        static string RatioCell(double? v) => v is { } x ? x.ToString("0.00", CultureInfo.InvariantCulture) : "-";
        var w = Console.Out;
        w.WriteLine();
        w.WriteLine("the kubelet's view: ours (metagpu start --simulate 8, usage and metrics on) beside the grpc-go reference plugin");
        w.WriteLine("ratio = ours / reference; every figure is lower-is-better, so a ratio below 1 is ours ahead");
        w.WriteLine($"  {"",-30} {"grpc-go driver (kubeletsim)",-32}   {"Grpc.Net.Client driver",-30}");
        w.WriteLine($"  {"figure",-24} {"unit",-5} {"ours",11} {"reference",11} {"ratio",6}   {"ours",11} {"reference",11} {"ratio",6}");
        foreach (var name in names)
        {
            var unit = figures.First(f => f.Name == name).Unit;
            w.WriteLine($"  {name,-24} {unit,-5} {Cell(Get(drivers[0], KubeletPlugin.OursName, name)),11} {Cell(Get(drivers[0], KubeletPlugin.ReferenceName, name)),11} {RatioCell(Ratio(drivers[0], name)),6}" +
                $"   {Cell(Get(drivers[1], KubeletPlugin.OursName, name)),11} {Cell(Get(drivers[1], KubeletPlugin.ReferenceName, name)),11} {RatioCell(Ratio(drivers[1], name)),6}");
        }
    }
}
