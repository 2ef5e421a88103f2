using System.Diagnostics;

namespace MetaGpu.Tests.DevicePlugin;

/// <summary>
/// The state directory of a <c>metagpu start</c> the tests run: when the test names none (no <c>--state-dir</c> flag, no
/// <c>METAGPU_STATE_DIR</c>), a fresh temporary one, so no test writes the product's default /var/lib/metagpu.
/// </summary>
public static class TemporaryStateDirectory
{
    public const string Variable = "METAGPU_STATE_DIR";

    /// <summary>Sets <see cref="Variable"/> on <paramref name="psi"/> and returns the directory, or null when the test chose one.</summary>
    public static string? IfNoneNamed(string? command, ProcessStartInfo psi)
    {
        // An empty or null value means "not set" to the product too, which would then use the default.
        if (command != "start" || psi.Environment.TryGetValue(Variable, out var set) && !string.IsNullOrEmpty(set) ||
            psi.ArgumentList.Any(a => a == "--state-dir" || a.StartsWith("--state-dir=", StringComparison.Ordinal)))
            return null;
        var directory = Directory.CreateTempSubdirectory("mg-state-").FullName;
        psi.Environment[Variable] = directory;
        return directory;
    }

    public static void Remove(string? directory)
    {
        if (directory is null)
            return;
        try
        {
            Directory.Delete(directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
