namespace MetaGpu.DevicePlugin;

/// <summary>A read-only bind mount Allocate adds to a container.</summary>
public sealed record ContainerMount(string ContainerPath, string HostPath);

/// <summary>
/// What Allocate gives every container besides its allocation: mgctl and its socket's directory, and the variable
/// that names the socket. Published by the control side: the socket's directory and variable when the control socket
/// serves, mgctl's mount once mgctl is installed (after the first registration, so that copying the binary does not
/// compete with registering); read by every Allocate, so a container never gets a mount whose source is missing.
/// An Allocate that comes while an installation is <see cref="Pending"/> waits for it (a bounded time), so the first
/// pods after a start get mgctl too.
/// </summary>
public sealed class ContainerAdditions
{
    public static readonly Snapshot None = new([], []);

    private volatile Snapshot _current = None;

    public sealed record Snapshot(IReadOnlyList<ContainerMount> Mounts, IReadOnlyList<KeyValuePair<string, string>> Environment);

    public Snapshot Current => _current;

    public void Publish(Snapshot snapshot) => _current = snapshot ?? throw new ArgumentNullException(nameof(snapshot));

    /// <summary>Done when no publication is coming soon: until then, an Allocate waits for it (see <see cref="MaxWait"/>).</summary>
    public Task Pending { get; set; } = Task.CompletedTask;

    /// <summary>The longest an Allocate waits for a pending publication before it answers with what is published.</summary>
    public static readonly TimeSpan MaxWait = TimeSpan.FromSeconds(5);
}
