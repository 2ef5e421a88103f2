namespace MetaGpu.DevicePlugin;

/// <summary>A read-only bind mount Allocate adds to a container.</summary>
public sealed record ContainerMount(string ContainerPath, string HostPath);

/// <summary>
/// What Allocate gives every container besides its allocation: mgctl and its socket's directory, and the variable
/// that names the socket. Published by the control side: the socket's directory and variable when the control socket
/// serves, mgctl's mount once mgctl is installed (beside the first registration, not before it); read by every
/// Allocate, so a container never gets a mount whose source is missing.
/// </summary>
public sealed class ContainerAdditions
{
    public static readonly Snapshot None = new([], []);

    private volatile Snapshot _current = None;

    public sealed record Snapshot(IReadOnlyList<ContainerMount> Mounts, IReadOnlyList<KeyValuePair<string, string>> Environment);

    public Snapshot Current => _current;

    public void Publish(Snapshot snapshot) => _current = snapshot ?? throw new ArgumentNullException(nameof(snapshot));
}
