using System.Diagnostics;
using System.Text.Json;
using MetaGpu.Tests.DevicePlugin;

namespace MetaGpu.Tests.Shipping;

/// <summary>
/// The DaemonSet's own command lines, run with the published binary: the container's args (with the ConfigMap's
/// config.yaml at <c>--config</c>) against the stand-in kubelet on simulated GPUs, then the liveness probe's command.
/// The container paths are mapped to a temporary folder; everything else is used as written in static.yaml.
/// </summary>
public sealed class ManifestCommandTests : IAsyncLifetime
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(20);
    private readonly Manifest _m = ShippingFiles.LoadManifest();
    private string _root = "";
    private string _binary = "";

    public async Task InitializeAsync()
    {
        _root = Directory.CreateTempSubdirectory("mg-ship-").FullName;
        _binary = await PublishedBinary.PathAsync();
    }

    public Task DisposeAsync()
    {
        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
        }
        return Task.CompletedTask;
    }

    private string KubeletDir => Map(_m.Arg("--kubelet-dir"));

    /// <summary>
    /// A word of the container's command lines as this test runs it: each hostPath mount (and what lies below it) and
    /// the config mount as folders of this test, the image's entrypoint as the published binary, and the metrics port
    /// as any free port on loopback (another test or program may hold 9400).
    /// </summary>
    private string Map(string word)
    {
        foreach (var v in _m.HostPathVolumes)
        {
            var mount = _m.MountOf(v.Name).MountPath;
            if (word == mount)
                return Path.Combine(_root, v.Name);
            if (word.StartsWith(mount + "/", StringComparison.Ordinal))
                return Path.Combine(_root, v.Name, word[(mount.Length + 1)..]);
        }
        var configMount = _m.MountOf(Assert.Single(_m.Pod.Volumes, v => v.ConfigMap is not null).Name).MountPath;
        if (word.StartsWith(configMount + "/", StringComparison.Ordinal))
            return Path.Combine(_root, "config", word[(configMount.Length + 1)..]);
        if (word == ShippingFiles.LoadDockerfile()[^1].ExecForm("ENTRYPOINT")[0])
            return _binary;
        if (word == _m.Arg("--metrics-address"))
            return "127.0.0.1:0";
        return word;
    }

    [Fact]
    public async Task TheContainerArgsStartAPluginThatTheLivenessProbeFindsServing()
    {
        Directory.CreateDirectory(KubeletDir);
        Directory.CreateDirectory(Path.Combine(_root, "config"));
        foreach (var (key, text) in _m.ConfigMap.Data)
            await File.WriteAllTextAsync(Path.Combine(_root, "config", key), text);

        // Before any plugin is there, the probe fails: it checks something real.
        var (before, beforeOutput) = await ProbeAsync();
        Assert.True(before == 1, $"probe with no socket: exit {before}\n{beforeOutput}");

        await using var kubelet = await TestKubelet.StartAsync(KubeletDir);
        var args = _m.Container.Args.Select(Map).ToList();
        Assert.Equal("start", args[0]);
        await using var plugin = PluginProcess.Start(_binary, args.Skip(1), new Dictionary<string, string?> { ["METAGPU_SIMULATE"] = "2" });

        var devices = await kubelet.WaitForDevicesAsync("cnvrg.io/metagpu", d => d.Count == 200, Wait);
        Assert.All(devices.Values, d => Assert.Equal("Healthy", d.Health));
        var (exit, output) = await ProbeAsync();
        Assert.True(exit == 0, $"liveness probe: exit {exit}\n{output}\nplugin log:\n{plugin.LogText}");
        Assert.Contains("SERVING", output, StringComparison.Ordinal);

        // A kubelet restart deletes the sockets; the plugin registers again and the probe passes again.
        await kubelet.RestartAsync();
        await kubelet.WaitForDevicesAsync("cnvrg.io/metagpu", d => d.Count == 200, Wait);
        (exit, output) = await ProbeAsync();
        Assert.True(exit == 0, $"liveness probe after a kubelet restart: exit {exit}\n{output}\nplugin log:\n{plugin.LogText}");

        Assert.Equal(0, await plugin.TerminateAsync(Wait));
        // --log-format json: every log line is a JSON object; the config came from the mounted file.
        Assert.NotEmpty(plugin.Log);
        Assert.All(plugin.Log, line => Assert.Equal(JsonValueKind.Object, JsonDocument.Parse(line).RootElement.ValueKind));
        Assert.Contains(plugin.Log, l => l.Contains(Path.Combine(_root, "config", "config.yaml"), StringComparison.Ordinal));
    }

    private async Task<(int Exit, string Output)> ProbeAsync()
    {
        var command = _m.Container.LivenessProbe.Exec.Command.Select(Map).ToList();
        var psi = new ProcessStartInfo(command[0]) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in command.Skip(1))
            psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(_m.Container.LivenessProbe.TimeoutSeconds ?? 1));
        return (p.ExitCode, await stdout + await stderr);
    }
}
