using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using MetaGpu.Tests.DevicePlugin;
using MetaGpu.Tests.Nvml;
using MetaGpu.Tests.Support;

namespace MetaGpu.Tests.Shipping;

/// <summary>
/// The published binary run under a real glibc 2.31, Debian 11's loader and libraries in place of the machine's
/// (docs/glibc.md): its start code and static constructors, threads, dlopen of NVML, Unix sockets and signals. This
/// is what a user's Ubuntu 20.04 container does with the mounted mgctl; the symbol check (GlibcFloorTests) only says it
/// should work.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed partial class Glibc231RunTests : IAsyncLifetime
{
    private const string Resource = "cnvrg.io/metagpu";
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(60);
    private string _dir = "";
    private string _binary = "";
    private Glibc231Root _glibc = null!;

    public async Task InitializeAsync()
    {
        _dir = Directory.CreateTempSubdirectory("mg-glibc231-").FullName;
        _binary = await PublishedBinary.PathAsync();
        _glibc = await Glibc231.GetAsync();
    }

    public Task DisposeAsync()
    {
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
        }
        return Task.CompletedTask;
    }

    [Fact]
    public async Task PrintsItsVersion()
    {
        var (code, stdout, stderr) = await RunAsync(["version"]);
        Assert.True(code == 0, $"exit {code}: {stderr}");
        Assert.Equal($"metagpu {ShippingFiles.ProductVersion}", stdout.Trim());
        Assert.Equal("", stderr);
    }

    [Fact]
    public async Task ListsSimulatedGpus()
    {
        var (code, stdout, stderr) = await RunAsync(["gpus", "--simulate", "2"]);
        Assert.True(code == 0, $"exit {code}: {stderr}");
        Assert.Contains("Backend: simulated", stdout);
        Assert.Contains("GPUs: 2", stdout);
        Assert.Equal(2, stdout.Split('\n').Count(l => l.Contains("NVIDIA A100", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task LoadsNvmlWithDlopenAndListsItsGpus()
    {
        var library = await FakeNvmlFor231Async();
        var world = Path.Combine(_dir, "world.txt");
        File.WriteAllText(world, string.Join('\n',
            "driver 550.54.15", "cuda 12040",
            $"gpu index=0 uuid=GPU-00000000-aaaa-bbbb-cccc-000000000231 name=\"NVIDIA Fake\" mem_total={40UL << 30} mem_used={1UL << 30} pci=00000000:10:00.0 minor=0 events=0xb",
            $"gpu index=1 uuid=GPU-00000001-aaaa-bbbb-cccc-000000000231 name=\"NVIDIA Fake\" mem_total={80UL << 30} mem_used=0 pci=00000000:11:00.0 minor=1 events=0xb",
            ""));

        var (code, stdout, stderr) = await RunAsync(["gpus", "-o", "json", "--nvml-library", library], ("FAKE_NVML_CONFIG", world));
        Assert.True(code == 0, $"exit {code}: {stderr}");
        using var json = JsonDocument.Parse(stdout);
        Assert.Equal("nvml", json.RootElement.GetProperty("backend").GetString());
        Assert.Equal("550.54.15", json.RootElement.GetProperty("driverVersion").GetString());
        var gpus = json.RootElement.GetProperty("gpus").EnumerateArray().ToList();
        Assert.Equal(["GPU-00000000-aaaa-bbbb-cccc-000000000231", "GPU-00000001-aaaa-bbbb-cccc-000000000231"], gpus.Select(g => g.GetProperty("uuid").GetString()));
        Assert.Equal([40960, 81920], gpus.Select(g => g.GetProperty("memoryTotalMiB").GetInt32()));
        Assert.Equal(1024, gpus[0].GetProperty("memoryUsedMiB").GetInt32());
    }

    [Fact]
    public async Task ServesTheKubeletAndStopsCleanlyOnSigterm()
    {
        var kubeletDir = Path.Combine(_dir, "kubelet");
        Directory.CreateDirectory(kubeletDir);
        await using var kubelet = await TestKubelet.StartAsync(kubeletDir);
        await using var plugin = PluginProcess.StartCommand(_glibc.Loader, "--library-path",
            [_glibc.LibraryDirectory, _binary, "start", "--simulate", "1", "--kubelet-dir", kubeletDir,
             "--state-dir", Path.Combine(_dir, "state"), "--metrics-address", "127.0.0.1:0",
             "--pod-resources-socket", Path.Combine(_dir, "pod-resources.sock")]);

        await plugin.WaitForLogAsync("registered with the kubelet", Wait);
        var devices = await kubelet.WaitForDevicesAsync(Resource, d => d.Count == 100, Wait);
        Assert.All(devices.Values, d => Assert.Equal("Healthy", d.Health));
        var (ids, response) = await kubelet.Plugin(Resource)!.AdmitAsync(30);
        Assert.Equal(30, ids.Count);
        Assert.Equal("30", response.Envs["METAGPU_REQUEST"]);

        // It is the old glibc that serves: the daemon has Debian 11's libc and libpthread mapped, not the machine's.
        var maps = File.ReadAllText($"/proc/{plugin.Id.ToString(CultureInfo.InvariantCulture)}/maps");
        Assert.Contains(Path.Combine(_glibc.LibraryDirectory, "libc-2.31.so"), maps);
        Assert.Contains(Path.Combine(_glibc.LibraryDirectory, "libpthread-2.31.so"), maps);

        // And its HTTP side, over TCP: /healthz on the port the kernel gave it.
        var port = MetricsPort().Match(plugin.LogText);
        Assert.True(port.Success, $"no metrics port in the log:\n{plugin.LogText}");
        using var http = new HttpClient { Timeout = Wait };
        using var health = await http.GetAsync($"http://127.0.0.1:{port.Groups[1].Value}/healthz");
        Assert.Equal(System.Net.HttpStatusCode.OK, health.StatusCode);

        Assert.Equal(0, await plugin.TerminateAsync(Wait));
        Assert.Contains("stopped: streams closed, sockets removed", plugin.LogText);
        Assert.DoesNotContain(plugin.Log, l => l.Contains(" fail: ", StringComparison.Ordinal) || l.Contains(" crit: ", StringComparison.Ordinal));
    }

    [GeneratedRegex(@"serving metrics on \S+ \(port (\d+)\)")]
    private static partial Regex MetricsPort();

    private async Task<(int Code, string Stdout, string Stderr)> RunAsync(IEnumerable<string> args, params (string Name, string Value)[] env)
    {
        var psi = _glibc.StartInfo(_binary, args);
        foreach (var name in psi.Environment.Keys.Where(k => k.StartsWith("METAGPU_", StringComparison.Ordinal)).ToList())
            psi.Environment.Remove(name);
        foreach (var (name, value) in env)
            psi.Environment[name] = value;
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        try
        {
            await p.WaitForExitAsync().WaitAsync(Wait);
        }
        catch (TimeoutException)
        {
            p.Kill(entireProcessTree: true);
            throw;
        }
        return (p.ExitCode, await stdout, await stderr);
    }

    /// <summary>
    /// tests/FakeNvml/fake_nvml.c built to load under glibc 2.31. The machine's headers make its stat and fstat the
    /// GLIBC_2.33 functions; before 2.33 they were inline calls of __xstat and __fxstat, so those two are linked to a
    /// wrapper that makes exactly that call (the same pinning the product's Native/glibc_2_31.c does).
    /// </summary>
    private async Task<string> FakeNvmlFor231Async()
    {
        var wrapper = Path.Combine(_dir, "stat_before_2_33.c");
        File.WriteAllText(wrapper, """
            #include <sys/stat.h>
            extern int old_xstat(int, const char *, struct stat *);
            extern int old_fxstat(int, int, struct stat *);
            __asm__(".symver old_xstat, __xstat@GLIBC_2.2.5");
            __asm__(".symver old_fxstat, __fxstat@GLIBC_2.2.5");
            /* 1 is _STAT_VER_LINUX, the struct stat layout of x86_64. */
            int __wrap_stat(const char *path, struct stat *st) { return old_xstat(1, path, st); }
            int __wrap_fstat(int fd, struct stat *st) { return old_fxstat(1, fd, st); }
            """);
        var library = Path.Combine(_dir, "libnvidia-ml.so.1");
        FakeNvml.Gcc("-shared", "-fPIC", "-O1", "-Wall", "-Wextra", "-o", library,
            Path.Combine(AppContext.BaseDirectory, "FakeNvml", "fake_nvml.c"), wrapper, "-Wl,--wrap=stat,--wrap=fstat");
        var imports = await ElfImports.ReadAsync(library);
        Assert.True(imports.HighestGlibc <= GlibcFloorTests.Floor,
            $"the fake NVML built for glibc 2.31 still needs {string.Join(", ", imports.SymbolsNewerThan(GlibcFloorTests.Floor))}: wrap those too");
        return library;
    }
}
