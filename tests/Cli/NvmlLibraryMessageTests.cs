using MetaGpu.Tests.Nvml;

namespace MetaGpu.Tests.Cli;

/// <summary><c>--nvml-library</c> pointing at the wrong file: the message says what the file is, not that it is missing.</summary>
[Collection(FakeNvmlCollection.Name)]
public sealed class NvmlLibraryMessageTests(FakeNvml fake)
{
    [Fact]
    public async Task ATextFileIsNotAnNvmlLibrary()
    {
        using var dir = new TempDir();
        var text = dir.Write("libnvidia-ml.so.1", "not a library\n");
        var r = await ProductProcess.RunAsync(["gpus", "--nvml-library", text]);
        Assert.Equal(4, r.ExitCode);
        Assert.Contains($"{text} is not an NVML library: it is not a shared library (no ELF header)", r.Stderr);
        Assert.DoesNotContain("not found", r.Stderr);
    }

    [Fact]
    public async Task AnotherSharedLibraryIsNotAnNvmlLibrary()
    {
        var other = fake.BuildLibrary("libnot-nvml-cli.so", "int not_nvml(void) { return 0; }\n");
        var r = await ProductProcess.RunAsync(["gpus", "--nvml-library", other]);
        Assert.Equal(4, r.ExitCode);
        Assert.Contains($"{other} is not an NVML library: it has no nvmlInit_v2", r.Stderr);
        Assert.DoesNotContain("not found", r.Stderr);
    }

    [Fact]
    public async Task AMissingFileIsStillNotFound()
    {
        var r = await ProductProcess.RunAsync(["gpus", "--nvml-library", "/nonexistent/libnvidia-ml.so.1"]);
        Assert.Equal(4, r.ExitCode);
        Assert.Contains("/nonexistent/libnvidia-ml.so.1 not found", r.Stderr);
    }
}
