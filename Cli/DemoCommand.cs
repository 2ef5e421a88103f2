using ConsoleAppFramework;
using MetaGpu.DevicePlugin.Demo;
using Microsoft.Extensions.Logging;

namespace MetaGpu.Cli;

/// <summary><c>metagpu demo</c>: the device plugin on two simulated GPUs with a stand-in kubelet, in a few seconds.</summary>
public sealed class DemoCommand
{
    public static readonly CommandInfo Info = new("demo", $"""
        It works in a temporary directory and removes it when it ends, also on Ctrl-C (SIGINT), SIGTERM or SIGHUP.

        {ExitCodes.Help(
            (ExitCodes.Ok, "the demo ran to the end"),
            (ExitCodes.Failure, "a step did not happen in time"),
            (ExitCodes.Usage, "unknown option, stray argument, invalid value"),
            (ExitCodes.Interrupted, "interrupted by a signal (its directory is removed all the same)"))}
        """, HasLogFormat: true);

    /// <summary>the device plugin on two simulated GPUs with a stand-in kubelet: pods admitted, a GPU going unhealthy and recovering, in a few seconds</summary>
    /// <param name="verbose">also show the plugin's own log (information and above; default: errors only)</param>
    /// <param name="logFormat">text|systemd|json for the plugin's log, on standard error [env METAGPU_LOG_FORMAT; default: text]</param>
    [Command("demo")]
    public int Run(bool verbose = false, [HideDefaultValue] string? logFormat = null) => CommandErrors.Guard(Info.Name, () =>
    {
        var format = LogSettings.Format(logFormat);
        using var signals = new StopSignals();
        return DemoRun.RunAsync(Console.Out, verbose ? LogLevel.Information : LogLevel.Error, format, signals.Token).GetAwaiter().GetResult();
    });
}
