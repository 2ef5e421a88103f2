using System.Runtime.InteropServices;

namespace MetaGpu.Control.Cli;

/// <summary>
/// Ctrl-C (SIGINT) and SIGTERM cancel <see cref="Token"/> instead of ending the process at once: a watch then ends
/// cleanly with exit 0, a call in flight with 130. A second one ends the process the default way.
/// </summary>
internal sealed class InterruptSignals : IDisposable
{
    private readonly CancellationTokenSource _cancel = new();
    private readonly PosixSignalRegistration _int;
    private readonly PosixSignalRegistration _term;

    public InterruptSignals()
    {
        _int = PosixSignalRegistration.Create(PosixSignal.SIGINT, Handle);
        _term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Handle);
    }

    public CancellationToken Token => _cancel.Token;

    private void Handle(PosixSignalContext context)
    {
        // The first one asks; a second one (the user pressing Ctrl-C again) takes the default way out.
        context.Cancel = !_cancel.IsCancellationRequested;
        _cancel.Cancel();
    }

    public void Dispose()
    {
        _int.Dispose();
        _term.Dispose();
        _cancel.Dispose();
    }
}
