using System.Diagnostics;
using System.Globalization;

namespace MetaGpu.Bench;

/// <summary>
/// The soak's eight GPUs: the tests' fake libnvidia-ml (tests/FakeNvml/fake_nvml.c, built here with gcc) answering
/// from a world file, loaded by the daemon with <c>--nvml-library</c>. <c>--simulate</c> would not do: its GPUs live
/// inside the daemon and nothing outside can fail one, while the fake's world is a file another process rewrites, and
/// an <c>event</c> line in it is an XID that NVML's event set delivers to the daemon. 80 GiB each, NUMA node 0 for GPUs
/// 0-3 and 1 for 4-7 (a sysfs tree of <c>numa_node</c> files, <c>--sysfs-root</c>), as <c>--simulate 8</c> has them.
/// </summary>
sealed class SoakGpus
{
    public const int Count = 8;
    private const ulong MemoryBytes = 80UL << 30;

    /// <summary>nvmlEventTypeXidCriticalError.</summary>
    private const int XidEventType = 0x8;

    private readonly List<string> _events = [];

    private SoakGpus(string directory, string library)
    {
        Library = library;
        World = Path.Combine(directory, "nvml-world.txt");
        SysfsRoot = Path.Combine(directory, "sys");
        Uuids = [.. Enumerable.Range(0, Count).Select(i => string.Create(CultureInfo.InvariantCulture, $"GPU-50a50000-0000-4000-8000-{i:x12}"))];
    }

    public string Library { get; }

    /// <summary>The fake's world (FAKE_NVML_CONFIG).</summary>
    public string World { get; }

    public string SysfsRoot { get; }

    public IReadOnlyList<string> Uuids { get; }

    public static int NumaNode(int index) => index < Count / 2 ? 0 : 1;

    /// <summary>Builds the fake library into <paramref name="directory"/> and writes its world and sysfs tree there.</summary>
    public static async Task<SoakGpus> CreateAsync(string directory)
    {
        var source = FindSource() ?? throw new FileNotFoundException("tests/FakeNvml/fake_nvml.c not found above this program or the current folder");
        var library = Path.Combine(directory, "libnvidia-ml.so.1");
        var gcc = Process.Start(new ProcessStartInfo("gcc", ["-shared", "-fPIC", "-O1", "-o", library, source, "-lpthread"]) { RedirectStandardError = true })!;
        var errors = await gcc.StandardError.ReadToEndAsync();
        await gcc.WaitForExitAsync();
        if (gcc.ExitCode != 0)
            throw new InvalidOperationException($"gcc could not build the fake NVML library: {errors.Trim()}");
        var gpus = new SoakGpus(directory, library);
        for (var i = 0; i < Count; i++)
        {
            var device = Path.Combine(gpus.SysfsRoot, "bus", "pci", "devices", PciAddress(i, sysfs: true));
            Directory.CreateDirectory(device);
            File.WriteAllText(Path.Combine(device, "numa_node"), $"{NumaNode(i)}\n");
        }
        gpus.WriteWorld();
        return gpus;
    }

    /// <summary>
    /// An XID on GPU <paramref name="index"/>: one more <c>event</c> line, the world written anew and renamed over (the
    /// fake re-reads it when it changes, and hands each event set the lines it has not passed yet). The lines stay,
    /// one per flap (a few dozen in ten minutes), because an event set counts the ones it passed.
    /// </summary>
    public void InjectXid(int index, int xid)
    {
        lock (_events)
        {
            _events.Add(string.Create(CultureInfo.InvariantCulture, $"event gpu={index} type=0x{XidEventType:x} data={xid}"));
            WriteWorld();
        }
    }

    private void WriteWorld()
    {
        var lines = new List<string> { "driver 550.54.15", "cuda 12040" };
        for (var i = 0; i < Count; i++)
        {
            lines.Add(string.Create(CultureInfo.InvariantCulture,
                $"gpu index={i} uuid={Uuids[i]} name=\"NVIDIA H100 80GB HBM3\" mem_total={MemoryBytes} mem_used=0 pci={PciAddress(i, sysfs: false)} minor={i} " +
                $"temp=34 power=55000 util_gpu=0 util_mem=0 events=0xb"));
        }
        lines.AddRange(_events);
        File.WriteAllText(World + ".new", string.Join('\n', lines) + "\n");
        File.Move(World + ".new", World, overwrite: true);
    }

    /// <summary>NVML's bus ID (<c>00000000:18:00.0</c>) or sysfs's (<c>0000:18:00.0</c>) of GPU <paramref name="index"/>.</summary>
    private static string PciAddress(int index, bool sysfs) =>
        string.Create(CultureInfo.InvariantCulture, $"{(sysfs ? "0000" : "00000000")}:{0x18 + index:x2}:00.0");

    private static string? FindSource()
    {
        foreach (var start in new[] { AppContext.BaseDirectory, Directory.GetCurrentDirectory() })
        {
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                var candidate = Path.Combine(dir.FullName, "tests", "FakeNvml", "fake_nvml.c");
                if (File.Exists(candidate))
                    return candidate;
            }
        }
        return null;
    }
}
