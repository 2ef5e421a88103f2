using MetaGpu.DevicePlugin;
using MetaGpu.DevicePlugin.Config;
using MetaGpu.Nvml;

namespace MetaGpu.Fuzz.Targets;

/// <summary>
/// The config loader (DevicePlugin/Config: SharingConfigLoader.Load) on a file holding the input, as the daemon
/// reads its ConfigMap at start and on every reload; a config it accepts then goes through SharePlanBuilder over
/// the simulated GPUs, as the daemon does next. A <see cref="ConfigException"/> is the correct refusal; anything
/// else (or a crash of the process, such as a stack overflow) is a finding.
/// </summary>
internal sealed class ConfigTarget : IFuzzTarget
{
    private readonly string _path;
    private readonly GpuInventory _inventory;

    public ConfigTarget()
    {
        _path = Path.Combine(ScratchDirectory.Path, "config.yaml");
        using var backend = SimulatedBackend.Parse(SimulatedNode.Gpus);
        _inventory = backend.GetInventory();
    }

    public void Run(ReadOnlySpan<byte> input)
    {
        File.WriteAllBytes(_path, input);
        try
        {
            var config = SharingConfigLoader.Load(_path);
            SharePlanBuilder.Build(config, _inventory);
        }
        catch (ConfigException)
        {
        }
    }
}
