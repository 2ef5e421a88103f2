using System.Diagnostics;

namespace MetaGpu.Tests.DevicePlugin;

/// <summary>
/// The metrics address of a <c>metagpu start</c> the tests run: when the test names none (no <c>--metrics-address</c>,
/// no <c>METAGPU_METRICS_ADDRESS</c>), a port the kernel picks on loopback, so daemons started side by side do not
/// fight over the product's default :9400 (the second would rightly refuse to start).
/// </summary>
public static class LoopbackMetrics
{
    public const string Variable = "METAGPU_METRICS_ADDRESS";

    public static void IfNoneNamed(string? command, ProcessStartInfo psi)
    {
        if (command != "start" || psi.Environment.TryGetValue(Variable, out var set) && !string.IsNullOrEmpty(set) ||
            psi.ArgumentList.Any(a => a == "--metrics-address" || a.StartsWith("--metrics-address=", StringComparison.Ordinal)))
            return;
        psi.Environment[Variable] = "127.0.0.1:0";
    }
}
