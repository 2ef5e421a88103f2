namespace MetaGpu.DevicePlugin;

/// <summary>
/// Which ListAndWatch stream belongs to the current registration: only its end means "the kubelet went away, register
/// again". Any client may open ListAndWatch (a probe, a debugging grpcurl, a hostile peer) and close it again; if every
/// stream's end counted, each of them would make us register again and the kubelet would see the devices flap.
/// <para>
/// The tie is the client connection. Inside our Register call the kubelet dials our socket once, asks
/// GetDevicePluginOptions, and then opens ListAndWatch on that same connection (the kubelet's device manager,
/// <c>plugin/v1beta1/client.go</c>: <c>Connect</c> dials, <c>PluginConnected</c> asks for the options, <c>Run</c> calls
/// ListAndWatch on the same client, started before or after Register answers). So the connection that asks for the
/// options while our Register call is in flight is the kubelet's, and the first ListAndWatch on it is the registration's
/// stream. <c>ServerCallContext.Peer</c> names the connection (<c>unix:&lt;socket&gt;#&lt;n&gt;</c>). A kubelet that asks no
/// options during Register (none known) falls back to the first stream opened after Register returned.
/// </para>
/// <para>
/// Limit: a client that asks for the options in the instant between our Register request and the kubelet's dial-back
/// takes the kubelet's place; the end of the kubelet's stream then goes unnoticed here, but a kubelet restart is still
/// seen by its new <c>kubelet.sock</c> and by our socket being deleted.
/// </para>
/// </summary>
public sealed class RegistrationStream
{
    private readonly Lock _lock = new();
    private bool _registering;
    private bool _registered;
    private string? _kubeletPeer;
    private object? _stream;

    /// <summary>Our Register call is about to be sent: forget the previous registration.</summary>
    public void Begin()
    {
        lock (_lock)
        {
            _registering = true;
            _registered = false;
            _kubeletPeer = null;
            _stream = null;
        }
    }

    /// <summary>Our Register call returned (<paramref name="registered"/>: the kubelet took it).</summary>
    public void End(bool registered)
    {
        lock (_lock)
        {
            _registering = false;
            _registered = registered;
        }
    }

    /// <summary>A GetDevicePluginOptions call arrived on the connection <paramref name="peer"/>.</summary>
    public void OptionsAsked(string peer)
    {
        lock (_lock)
        {
            if (_registering && _kubeletPeer is null)
                _kubeletPeer = peer;
        }
    }

    /// <summary>A ListAndWatch stream (<paramref name="stream"/>, any object unique to it) opened on <paramref name="peer"/>:
    /// true when it is the registration's stream.</summary>
    public bool Claim(string peer, object stream)
    {
        lock (_lock)
        {
            if (_stream is not null)
                return false;
            var ours = _kubeletPeer is not null ? peer == _kubeletPeer : _registered;
            if (ours)
                _stream = stream;
            return ours;
        }
    }
}
