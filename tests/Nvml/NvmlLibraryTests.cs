using MetaGpu.Nvml;

namespace MetaGpu.Tests.Nvml;

/// <summary>Finding and opening the library, nvmlInit_v2 failures, and NVML's lifetime.</summary>
[Collection(FakeNvmlCollection.Name)]
public sealed class NvmlLibraryTests(FakeNvml fake)
{
    private const string OneGpu = "driver 1\ncuda 12040\ngpu index=0 uuid=GPU-a name=A mem_total=1 mem_used=0 pci=00000000:01:00.0 minor=0\n";

    [Fact]
    public void AMissingLibraryNamesThePathAndTheLikelyCause()
    {
        var path = Path.Combine(fake.Directory, "absent", "libnvidia-ml.so.1");
        var e = Assert.Throws<NvmlLibraryNotFoundException>(() => NvmlBackend.Open(path));
        Assert.Equal(path, e.LibraryPath);
        Assert.Equal(
            $"NVML library {path} not found: is the NVIDIA container runtime configured for this pod " +
            "(runtimeClassName: nvidia, or the nvidia runtime as default)? To try MetaGPU without a GPU, use --simulate 2.",
            e.Message);
        Assert.IsType<DllNotFoundException>(e.InnerException);
    }

    [Fact]
    public void TheEnvironmentVariableNamesTheLibraryWhenNoPathIsGiven()
    {
        var path = Path.Combine(fake.Directory, "elsewhere", "libnvidia-ml.so.1");
        var saved = Environment.GetEnvironmentVariable("METAGPU_NVML_LIBRARY");
        Environment.SetEnvironmentVariable("METAGPU_NVML_LIBRARY", path);
        try
        {
            Assert.Equal(path, Assert.Throws<NvmlLibraryNotFoundException>(() => NvmlBackend.Open()).LibraryPath);

            Environment.SetEnvironmentVariable("METAGPU_NVML_LIBRARY", fake.LibraryPath);
            fake.NewWorld(OneGpu);
            using var nvml = NvmlBackend.Open();
            Assert.Equal("GPU-a", nvml.GetInventory().Gpus[0].Uuid);
        }
        finally
        {
            Environment.SetEnvironmentVariable("METAGPU_NVML_LIBRARY", saved);
        }
    }

    [Fact]
    public void ALibraryThatIsNotNvmlIsNotFoundEither()
    {
        var other = fake.BuildLibrary("libnot-nvml.so", "int not_nvml(void) { return 0; }\n");
        var e = Assert.Throws<NvmlLibraryNotFoundException>(() => NvmlBackend.Open(other));
        Assert.Equal(other, e.LibraryPath);
        Assert.IsType<EntryPointNotFoundException>(e.InnerException);

        // Refused without being kept: the fake still opens afterwards.
        using var nvml = fake.Open(OneGpu);
        Assert.Single(nvml.GetInventory().Gpus);
    }

    [Fact]
    public void AFailingInitIsABackendError()
    {
        fake.NewWorld("error func=nvmlInit_v2 code=9\n");
        var e = Assert.Throws<GpuBackendException>(() => NvmlBackend.Open(fake.LibraryPath));
        Assert.Equal(("nvmlInit_v2", NvmlReturn.DriverNotLoaded), (e.Function, e.Code));
        Assert.Contains("Driver Not Loaded", e.Message);
    }

    [Fact]
    public void DisposeShutsNvmlDownOnceAndLaterCallsAreRefused()
    {
        var before = fake.InitCount;
        var nvml = fake.Open(OneGpu);
        using (var second = NvmlBackend.Open(fake.LibraryPath))
            Assert.Equal(before + 2, fake.InitCount);
        Assert.Equal(before + 1, fake.InitCount);

        nvml.Dispose();
        nvml.Dispose();
        Assert.Equal(before, fake.InitCount);
        Assert.Throws<ObjectDisposedException>(nvml.GetInventory);
        Assert.Throws<ObjectDisposedException>(() => nvml.GetProcesses("GPU-a"));
        Assert.Throws<ObjectDisposedException>(() => nvml.Probe("GPU-a"));
        Assert.Throws<ObjectDisposedException>(nvml.WatchEvents);
    }

    [Fact]
    public void ConcurrentCallsAreSafe()
    {
        using var nvml = fake.Open(OneGpu + "process gpu=0 pid=1 mem=5 kind=compute\n");
        Parallel.For(0, 400, i =>
        {
            switch (i % 3)
            {
                case 0: Assert.Single(nvml.GetInventory().Gpus); break;
                case 1: Assert.Single(nvml.GetProcesses("GPU-a")); break;
                default: nvml.Probe("GPU-a"); break;
            }
        });
    }

    [Fact]
    public void TheFakeReadsFakeNvmlConfigInAChildProcess()
    {
        // How a daemon under test meets the fake: a separate process with FAKE_NVML_CONFIG in its environment.
        var program = fake.BuildProgram("fake-nvml-child", """
            #include <stdio.h>
            int nvmlInit_v2(void);
            int nvmlSystemGetDriverVersion(char *version, unsigned int length);
            int nvmlDeviceGetCount_v2(unsigned int *count);
            int main(void)
            {
                char driver[80];
                unsigned int count = 0;
                int init = nvmlInit_v2();
                int version = nvmlSystemGetDriverVersion(driver, sizeof driver);
                int devices = nvmlDeviceGetCount_v2(&count);
                printf("%d %d %d %s %u\n", init, version, devices, version ? "-" : driver, count);
                return 0;
            }
            """);
        var config = Path.Combine(fake.Directory, "child.conf");
        File.WriteAllText(config, """
            driver 999.1
            gpu index=0 uuid=GPU-a name=A mem_total=1 mem_used=0 pci=00000000:01:00.0 minor=0
            gpu index=1 uuid=GPU-b name=B mem_total=1 mem_used=0 pci=00000000:02:00.0 minor=1
            """);

        var start = new System.Diagnostics.ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true };
        start.Environment["FAKE_NVML_CONFIG"] = config;
        using var child = System.Diagnostics.Process.Start(start)!;
        var output = child.StandardOutput.ReadToEnd();
        child.WaitForExit();
        Assert.Equal("0 0 0 999.1 2\n", output);
    }
}
