using ConsoleAppFramework;
using MetaGpu.Nvml;

namespace MetaGpu.Cli;

/// <summary><c>metagpu gpus</c>: the inventory as a table or JSON, so an operator can check on a node what MetaGPU sees.</summary>
public sealed class GpusCommand
{
    public static readonly CommandInfo Info = new("gpus", $"""
        Environment: METAGPU_SIMULATE, METAGPU_NVML_LIBRARY, METAGPU_SYSFS_ROOT (the flags win).

        {ExitCodes.Help(
            (ExitCodes.Ok, "listed"),
            (ExitCodes.Failure, "NVML failed"),
            (ExitCodes.Usage, "unknown option, stray argument, invalid value"),
            (ExitCodes.NoNvml, "no NVML library, or the file is not NVML"))}
        """);

    /// <summary>list the GPUs MetaGPU sees, with their processes</summary>
    /// <param name="output">-o, table|json [default: table]</param>
    /// <param name="simulate">simulated GPUs instead of NVML: a count or models, e.g. 2 or 2xA100,T4 [env METAGPU_SIMULATE]</param>
    /// <param name="nvmlLibrary">the NVML library to load [env METAGPU_NVML_LIBRARY; default: libnvidia-ml.so.1 on the loader's path]</param>
    /// <param name="sysfsRoot">where the GPUs' PCI devices are read (NUMA nodes) [env METAGPU_SYSFS_ROOT; default: /sys]</param>
    [Command("gpus")]
    public int Run(
        [HideDefaultValue] string output = "table",
        [HideDefaultValue] string? simulate = null,
        [HideDefaultValue] string? nvmlLibrary = null,
        [HideDefaultValue] string? sysfsRoot = null) => CommandErrors.Guard(Info.Name, () =>
    {
        if (output is not ("table" or "json"))
            throw new UsageException($"--output: '{output}' is not one of table, json");
        using var backend = GpuBackendSettings.Open(Info.Name, simulate, nvmlLibrary, sysfsRoot, out var exitCode);
        if (backend is null)
            return exitCode;
        try
        {
            var report = GpuReport.Collect(backend);
            Console.Out.Write(output == "json" ? report.ToJson() + "\n" : report.ToTable());
            return ExitCodes.Ok;
        }
        catch (GpuBackendException e)
        {
            return CommandErrors.Report(Info.Name, e.Message, ExitCodes.Failure);
        }
    });
}
