using System.Runtime.InteropServices;

namespace SpecNet.Cli.Terminal;

/// <summary>Turns the first Ctrl+C (SIGINT) or SIGTERM into a cancellation the trainer checks between steps.</summary>
internal sealed class Interrupt : IDisposable
{
    private readonly CancellationTokenSource _source = new();
    private readonly PosixSignalRegistration[] _registrations;

    public Interrupt()
    {
        void Handler(PosixSignalContext context)
        {
            if (_source.IsCancellationRequested) return; // a second signal: let the runtime end the process
            context.Cancel = true;
            _source.Cancel();
        }
        _registrations = [PosixSignalRegistration.Create(PosixSignal.SIGINT, Handler), PosixSignalRegistration.Create(PosixSignal.SIGTERM, Handler)];
    }

    public CancellationToken Token => _source.Token;

    public void Dispose()
    {
        foreach (var r in _registrations) r.Dispose();
        _source.Dispose();
    }
}
