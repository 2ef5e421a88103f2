using MetaGpu.Nvml;

namespace MetaGpu.Cli;

/// <summary>
/// <c>--simulate</c> (or <c>METAGPU_SIMULATE</c>) for simulated GPUs, else NVML from <c>--nvml-library</c> (or
/// <c>METAGPU_NVML_LIBRARY</c>, else <c>libnvidia-ml.so.1</c>). A missing NVML is one clear message and exit code 4.
/// </summary>
public static class GpuBackendSettings
{
    public static IGpuBackend? Open(string command, string? simulate, string? nvmlLibrary, string? sysfsRoot, out int exitCode)
    {
        var simulated = Setting.Of(simulate, "--simulate", "METAGPU_SIMULATE");
        exitCode = ExitCodes.Ok;
        try
        {
            return GpuBackends.Open(simulated.Value, nvmlLibrary, sysfsRoot);
        }
        catch (FormatException e)
        {
            // The parser's words start with "--simulate"; say which of the two sources it was.
            var message = e.Message;
            foreach (var echo in new[] { "--simulate", simulated.Value ?? "" })
            {
                if (echo.Length > 0 && message.StartsWith(echo, StringComparison.Ordinal))
                    message = message[echo.Length..].TrimStart(' ', ':');
            }
            throw simulated.Invalid(message);
        }
        catch (NvmlLibraryNotFoundException e)
        {
            exitCode = CommandErrors.Report(command, e.Message, ExitCodes.NoNvml);
        }
        catch (GpuBackendException e)
        {
            exitCode = CommandErrors.Report(command, $"cannot start NVML: {e.Message}", ExitCodes.Failure);
        }
        return null;
    }
}
