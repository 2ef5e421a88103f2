using System.Diagnostics;
using System.Runtime.InteropServices;
using MetaGpu.Nvml;

namespace MetaGpu.Tests.Nvml;

/// <summary>
/// Tests that load the fake libnvidia-ml.so.1. They share one process-wide library (a process binds one NVML and the
/// fake's world is global), so they run one at a time, never beside each other.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class FakeNvmlCollection : ICollectionFixture<FakeNvml>
{
    public const string Name = "FakeNvml";
}

/// <summary>
/// Builds <c>tests/FakeNvml/fake_nvml.c</c> with gcc once per test run and hands each test a fresh world.
/// The world's file is named to the fake through its <c>fake_nvml_set_config</c> export rather than
/// <c>FAKE_NVML_CONFIG</c>: on Unix, .NET's Environment.SetEnvironmentVariable changes only the managed copy of the
/// environment, which the library's getenv never sees.
/// </summary>
public sealed unsafe class FakeNvml : IDisposable
{
    private readonly delegate* unmanaged<byte*, void> _setConfig;
    private readonly delegate* unmanaged<int> _initCount;
    private readonly delegate* unmanaged<int> _eventSetCount;
    private int _worlds;

    public FakeNvml()
    {
        Directory = Path.Combine(Path.GetTempPath(), "metagpu-fake-nvml-" + Guid.NewGuid().ToString("N")[..12]);
        System.IO.Directory.CreateDirectory(Directory);
        var source = Path.Combine(AppContext.BaseDirectory, "FakeNvml", "fake_nvml.c");
        LibraryPath = Path.Combine(Directory, "libnvidia-ml.so.1");
        Gcc("-shared", "-fPIC", "-O1", "-Wall", "-Wextra", "-o", LibraryPath, source, "-lpthread");

        var handle = NativeLibrary.Load(LibraryPath);
        _setConfig = (delegate* unmanaged<byte*, void>)NativeLibrary.GetExport(handle, "fake_nvml_set_config");
        _initCount = (delegate* unmanaged<int>)NativeLibrary.GetExport(handle, "fake_nvml_init_count");
        _eventSetCount = (delegate* unmanaged<int>)NativeLibrary.GetExport(handle, "fake_nvml_event_set_count");
    }

    /// <summary>This run's scratch folder (library, worlds, sysfs trees).</summary>
    public string Directory { get; }

    public string LibraryPath { get; }

    /// <summary>The current world's file.</summary>
    public string ConfigPath { get; private set; } = "";

    /// <summary>nvmlInit_v2 calls not yet matched by nvmlShutdown.</summary>
    public int InitCount => _initCount();

    /// <summary>Event sets created and not yet freed.</summary>
    public int EventSetCount => _eventSetCount();

    /// <summary>Writes a new world (its own file) and opens the real bindings on it.</summary>
    public NvmlBackend Open(string config, string? sysfsRoot = null)
    {
        NewWorld(config);
        return NvmlBackend.Open(LibraryPath, sysfsRoot ?? Path.Combine(Directory, "no-sysfs"));
    }

    /// <summary>Makes <paramref name="config"/> the world from now on, in a file of its own.</summary>
    public void NewWorld(string config)
    {
        ConfigPath = Path.Combine(Directory, $"world-{Interlocked.Increment(ref _worlds)}.conf");
        File.WriteAllText(ConfigPath, config);
        var path = System.Text.Encoding.UTF8.GetBytes(ConfigPath + "\0");
        fixed (byte* p = path)
            _setConfig(p);
    }

    /// <summary>Replaces the current world's file (a new inode), as a test changes the world under a running backend.</summary>
    public void Rewrite(string config)
    {
        var temp = ConfigPath + ".new";
        File.WriteAllText(temp, config);
        File.Move(temp, ConfigPath, overwrite: true);
    }

    /// <summary>A fake /sys with <c>bus/pci/devices/{address}/numa_node</c> holding each given text.</summary>
    public string Sysfs(params (string Address, string NumaNode)[] devices)
    {
        var root = Path.Combine(Directory, "sys-" + Guid.NewGuid().ToString("N")[..8]);
        foreach (var (address, numa) in devices)
        {
            var folder = Path.Combine(root, "bus", "pci", "devices", address);
            System.IO.Directory.CreateDirectory(folder);
            File.WriteAllText(Path.Combine(folder, "numa_node"), numa);
        }
        System.IO.Directory.CreateDirectory(root);
        return root;
    }

    /// <summary>Compiles a shared library from C source text into this run's folder.</summary>
    public string BuildLibrary(string name, string source)
    {
        var c = Path.Combine(Directory, name + ".c");
        File.WriteAllText(c, source);
        var so = Path.Combine(Directory, name);
        Gcc("-shared", "-fPIC", "-o", so, c);
        return so;
    }

    /// <summary>Compiles a C program linked against the fake library (found next to it at run time).</summary>
    public string BuildProgram(string name, string source)
    {
        var c = Path.Combine(Directory, name + ".c");
        File.WriteAllText(c, source);
        var exe = Path.Combine(Directory, name);
        Gcc("-o", exe, c, LibraryPath, "-Wl,-rpath," + Directory);
        return exe;
    }

    /// <summary>Runs gcc; its errors become the exception (also used to build the container tests' workload).</summary>
    internal static void Gcc(params string[] arguments)
    {
        var start = new ProcessStartInfo("gcc") { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var a in arguments)
            start.ArgumentList.Add(a);
        using var gcc = Process.Start(start) ?? throw new InvalidOperationException("gcc did not start");
        var errors = gcc.StandardError.ReadToEndAsync();
        var output = gcc.StandardOutput.ReadToEnd();
        gcc.WaitForExit();
        if (gcc.ExitCode != 0)
            throw new InvalidOperationException($"gcc {string.Join(' ', arguments)} failed ({gcc.ExitCode}):\n{output}{errors.Result}");
    }

    public void Dispose()
    {
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
