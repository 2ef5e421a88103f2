using System.Text.Json;
using MetaGpu.Tests.Nvml;

namespace MetaGpu.Tests.Cli;

/// <summary><c>metagpu gpus</c> as a person runs it: through NVML (the fake library), on simulated GPUs, and without NVML.</summary>
[Collection(FakeNvmlCollection.Name)]
public sealed class GpusCommandTests(FakeNvml fake)
{
    private const ulong GiB = 1UL << 30;

    [Fact]
    public async Task JsonThroughNvmlCarriesEveryField()
    {
        var dir = Directory.CreateTempSubdirectory("mg-gpus-").FullName;
        try
        {
            var config = Path.Combine(dir, "world.txt");
            var longName = "NVIDIA " + new string('X', 80);
            File.WriteAllText(config, $"""
                driver 550.54.15
                cuda 12040
                gpu index=0 uuid=GPU-8e5b5a5c-1111-2222-3333-444455556666 name="{longName}" mem_total={80 * GiB} mem_used={7 * GiB} pci=00000000:07:00.0 minor=3 compute_mode=3 mig=0 temp=41 power=71500 util_gpu=12 util_mem=5
                gpu index=1 uuid=GPU-00000000-1111-2222-3333-444455556666 name="NVIDIA T4" mem_total={16 * GiB} mem_used=0 pci=00000000:08:00.0 minor=4
                process gpu=0 pid=4242 mem={6 * GiB} kind=compute
                """);
            var sysfs = fake.Sysfs(("0000:07:00.0", "1"), ("0000:08:00.0", "-1"));
            var r = await ProductProcess.RunAsync(["gpus", "-o", "json"], new Dictionary<string, string?>
            {
                ["METAGPU_NVML_LIBRARY"] = fake.LibraryPath,
                ["FAKE_NVML_CONFIG"] = config,
                ["METAGPU_SYSFS_ROOT"] = sysfs,
            });
            Assert.True(r.ExitCode == 0, r.Stderr);
            using var json = JsonDocument.Parse(r.Stdout);
            var root = json.RootElement;
            Assert.Equal("nvml", root.GetProperty("backend").GetString());
            Assert.Equal("550.54.15", root.GetProperty("driverVersion").GetString());
            Assert.Equal("12.4", root.GetProperty("cudaVersion").GetString());
            var gpus = root.GetProperty("gpus");
            Assert.Equal(2, gpus.GetArrayLength());
            var g0 = gpus[0];
            Assert.Equal(0, g0.GetProperty("index").GetInt32());
            Assert.Equal("GPU-8e5b5a5c-1111-2222-3333-444455556666", g0.GetProperty("uuid").GetString());
            Assert.Equal(longName, g0.GetProperty("name").GetString());
            Assert.Equal(80UL * 1024, g0.GetProperty("memoryTotalMiB").GetUInt64());
            Assert.Equal(7UL * 1024, g0.GetProperty("memoryUsedMiB").GetUInt64());
            Assert.Equal("00000000:07:00.0", g0.GetProperty("pciBusId").GetString());
            Assert.Equal(1, g0.GetProperty("numaNode").GetInt32());
            Assert.Equal(3u, g0.GetProperty("minorNumber").GetUInt32());
            Assert.Equal("ExclusiveProcess", g0.GetProperty("computeMode").GetString());
            Assert.False(g0.GetProperty("migEnabled").GetBoolean());
            Assert.Equal(41u, g0.GetProperty("temperatureCelsius").GetUInt32());
            Assert.Equal(71.5, g0.GetProperty("powerWatts").GetDouble());
            var proc = Assert.Single(g0.GetProperty("processes").EnumerateArray());
            Assert.Equal(4242u, proc.GetProperty("pid").GetUInt32());
            Assert.Equal(6UL * 1024, proc.GetProperty("usedMemoryMiB").GetUInt64());

            // Optional queries the GPU does not support come out as null, not as an error.
            var g1 = gpus[1];
            Assert.Equal(JsonValueKind.Null, g1.GetProperty("numaNode").ValueKind);
            Assert.Equal(JsonValueKind.Null, g1.GetProperty("temperatureCelsius").ValueKind);
            Assert.Equal(JsonValueKind.Null, g1.GetProperty("powerWatts").ValueKind);

            var table = await ProductProcess.RunAsync(["gpus"], new Dictionary<string, string?>
            {
                ["METAGPU_NVML_LIBRARY"] = fake.LibraryPath,
                ["FAKE_NVML_CONFIG"] = config,
            });
            Assert.Equal(0, table.ExitCode);
            Assert.Contains("GPU-8e5b5a5c-1111-2222-3333-444455556666", table.Stdout);
            Assert.Contains("7168 / 81920 MiB", table.Stdout);
            Assert.Contains("4242", table.Stdout);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public async Task MissingNvmlIsOneClearMessageAndExitCode4()
    {
        var r = await ProductProcess.RunAsync(["gpus", "--nvml-library", "/nonexistent/libnvidia-ml.so.1"]);
        Assert.Equal(4, r.ExitCode);
        Assert.Contains("/nonexistent/libnvidia-ml.so.1", r.Stderr);
        Assert.Contains("NVIDIA container runtime", r.Stderr);
        Assert.Contains("--simulate", r.Stderr);
        Assert.Equal("", r.Stdout);
        Assert.Single(r.Stderr.Trim().Split('\n'));
    }

    [Fact]
    public async Task SimulatedGpusNeedNoDriver()
    {
        var r = await ProductProcess.RunAsync(["gpus", "--simulate", "2xT4", "-o", "json"]);
        Assert.True(r.ExitCode == 0, r.Stderr);
        using var json = JsonDocument.Parse(r.Stdout);
        Assert.Equal("simulated", json.RootElement.GetProperty("backend").GetString());
        Assert.All(json.RootElement.GetProperty("gpus").EnumerateArray(), g => Assert.Equal("Tesla T4", g.GetProperty("name").GetString()));
    }

    [Theory]
    [InlineData("--output", "yaml", "not one of table, json")]
    [InlineData("--simulate", "2xB200", "unknown GPU model")]
    [InlineData("--bogus", "1", "'--bogus' is not recognized")]
    public async Task UsageErrorsExitWith2AndSayWhy(string option, string value, string expected)
    {
        var r = await ProductProcess.RunAsync(["gpus", option, value]);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains(expected, r.Stderr);
    }
}
