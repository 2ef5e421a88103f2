using System.Runtime.InteropServices;

namespace MetaGpu.Cli;

/// <summary>
/// SIGTERM (the kubelet, systemd), SIGINT (Ctrl-C) and SIGHUP (a closed terminal, <c>kill -HUP</c>) all mean "stop
/// cleanly": <see cref="Token"/> is cancelled and the command closes its streams and removes its sockets. Without the
/// SIGHUP handler the runtime's default would end the process at once and leave a stale socket behind.
/// </summary>
public sealed class StopSignals : IDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly PosixSignalRegistration[] _registrations;

    public StopSignals()
    {
        _registrations = [Register(PosixSignal.SIGTERM), Register(PosixSignal.SIGINT), Register(PosixSignal.SIGHUP)];
    }

    public CancellationToken Token => _stop.Token;

    public const string Help = "SIGTERM, SIGINT (Ctrl-C) and SIGHUP stop it cleanly: streams closed, sockets removed, exit 0.";

    private PosixSignalRegistration Register(PosixSignal signal) => PosixSignalRegistration.Create(signal, context =>
    {
        context.Cancel = true;
        _stop.Cancel();
    });

    public void Dispose()
    {
        foreach (var r in _registrations)
            r.Dispose();
        _stop.Dispose();
    }
}
