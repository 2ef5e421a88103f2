using System.Text.Json;

namespace MetaGpu.Tests.Control.Cli;

/// <summary><c>mgctl kill</c>: the pid and the signal number that reach the daemon, and what it prints of the answer.</summary>
public sealed class MgctlKillTests
{
    [Theory]
    [InlineData(15)]
    [InlineData(15, "-s", "TERM")]
    [InlineData(9, "-s", "KILL")]
    [InlineData(9, "--signal=9")]
    [InlineData(2, "--signal", "SIGINT")]
    public async Task TheSignalReachesTheDaemonAsItsNumber(int number, params string[] options)
    {
        await using var daemon = new StandInDaemon();
        var r = await MgctlRun.RunAsync(daemon, ["kill", "4242", .. options]);
        Assert.True(r.ExitCode == 0, r.ToString());
        var request = Assert.Single(daemon.Control.Kills);
        Assert.Equal(4242, request.Pid);
        Assert.Equal(number, request.Signal);
        var name = number switch { 9 => "SIGKILL", 2 => "SIGINT", _ => "SIGTERM" };
        Assert.Equal($"Sent {name} to 4242 (python train.py)\n", r.Stdout);
    }

    [Fact]
    public async Task JsonSaysWhatWasSignalled()
    {
        await using var daemon = new StandInDaemon();
        daemon.Control.KillAnswer = new() { Pid = 4242, Signal = 9, Command = "python 'train.py' <&>" };
        var r = await MgctlRun.RunAsync(daemon, "kill", "4242", "-s", "KILL", "-o", "json");
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal("""
            {
              "kind": "kill",
              "pid": 4242,
              "signal": 9,
              "signal_name": "SIGKILL",
              "command": "python 'train.py' <&>"
            }

            """, r.Stdout);
        using var _ = JsonDocument.Parse(r.Stdout);
    }

    [Fact]
    public async Task ABadPidAsksNothingOfTheDaemon()
    {
        await using var daemon = new StandInDaemon();
        var r = await MgctlRun.RunAsync(daemon, "kill", "-");
        Assert.Equal(2, r.ExitCode);
        Assert.Empty(daemon.Control.Calls);
    }
}
