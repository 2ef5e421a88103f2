using System.Buffers.Binary;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace MetaGpu.Rpc.Grpc;

/// <summary>
/// The process at the other end of a Unix socket connection, as the kernel recorded it when that process called
/// connect(2): <c>SO_PEERCRED</c>'s pid, uid and gid (translated into our namespaces; pid 0 when the peer's pid is
/// not visible in ours), and where the kernel has it (Linux 6.5+) <c>SO_PEERPIDFD</c>, a pidfd of that very process,
/// so that a pid reused after the peer exits is never taken for it. Read once per connection, at accept, when
/// <see cref="GrpcServerOptions.ReadPeerCredentials"/> is set; a service reads it with <see cref="GrpcServer.UnixPeerOf"/>.
/// Disposed with its connection.
/// </summary>
public sealed partial class UnixPeer : IDisposable
{
    private const int SolSocket = 1, SoPeerCred = 17, SoPeerPidfd = 77;
    private const long SysPidfdSendSignal = 424, SysPidfdOpen = 434;
    private const int Esrch = 3;

    private readonly SafeFileHandle? _pidfd;

    private UnixPeer(int pid, uint uid, uint gid, SafeFileHandle? pidfd, bool pidfdFromKernel, long acceptedAt)
    {
        Pid = pid;
        Uid = uid;
        Gid = gid;
        _pidfd = pidfd;
        PidfdFromSocket = pidfdFromKernel;
        AcceptedAt = acceptedAt;
    }

    /// <summary>A peer without a pidfd, as an old kernel gives (tests of what is decided from credentials alone).</summary>
    internal UnixPeer(int pid, uint uid, uint gid)
        : this(pid, uid, gid, null, false, Environment.TickCount64)
    {
    }

    /// <summary>The peer's pid in our pid namespace; 0 when it is in a pid namespace we cannot see.</summary>
    public int Pid { get; }

    public uint Uid { get; }
    public uint Gid { get; }

    /// <summary>Whether <see cref="IsAlive"/> has a pidfd to ask (the socket's own, or one opened at accept).</summary>
    public bool HasPidfd => _pidfd is { IsInvalid: false };

    /// <summary>True when the pidfd came from <c>SO_PEERPIDFD</c> (race-free); false when opened by pid at accept (older kernels).</summary>
    public bool PidfdFromSocket { get; }

    /// <summary><see cref="Environment.TickCount64"/> when the connection was accepted: the peer's process started before it.</summary>
    public long AcceptedAt { get; }

    /// <summary>
    /// Reads the peer of <paramref name="socket"/> (a connected Unix stream socket); null when the kernel gives no
    /// credentials (not a Unix socket).
    /// </summary>
    public static UnixPeer? Read(Socket socket)
    {
        ArgumentNullException.ThrowIfNull(socket);
        // Linux answers SO_PEERCRED on any socket: on TCP with pid 0 and uid -1, which must not pass for a peer.
        if (socket.AddressFamily != AddressFamily.Unix)
            return null;
        Span<byte> cred = stackalloc byte[12];
        int length;
        try
        {
            length = socket.GetRawSocketOption(SolSocket, SoPeerCred, cred);
        }
        catch (SocketException)
        {
            return null;
        }
        if (length < 12)
            return null;
        var pid = BinaryPrimitives.ReadInt32LittleEndian(cred);
        var uid = BinaryPrimitives.ReadUInt32LittleEndian(cred[4..]);
        var gid = BinaryPrimitives.ReadUInt32LittleEndian(cred[8..]);
        var acceptedAt = Environment.TickCount64;

        SafeFileHandle? pidfd = null;
        var fromSocket = false;
        Span<byte> fd = stackalloc byte[4];
        try
        {
            if (socket.GetRawSocketOption(SolSocket, SoPeerPidfd, fd) == 4 && BinaryPrimitives.ReadInt32LittleEndian(fd) is var n and >= 0)
            {
                pidfd = new SafeFileHandle(n, ownsHandle: true);
                fromSocket = true;
            }
        }
        catch (SocketException)
        {
            // ENOPROTOOPT before Linux 6.5; below, a pidfd by pid is the next best thing.
        }
        if (pidfd is null && pid > 0)
        {
            var opened = (int)Syscall(SysPidfdOpen, pid, 0, 0, 0);
            if (opened >= 0)
                pidfd = new SafeFileHandle(opened, ownsHandle: true);
        }
        return new UnixPeer(pid, uid, gid, pidfd, fromSocket, acceptedAt);
    }

    /// <summary>
    /// Whether the peer's process is still running (signal 0 through its pidfd): false once it has exited, even if
    /// its pid now names another process. Null without a pidfd (pidfds need Linux 5.3+): the caller then has to
    /// check the process's start time itself.
    /// </summary>
    public bool? IsAlive()
    {
        if (_pidfd is not { IsInvalid: false } handle)
            return null;
        var added = false;
        try
        {
            handle.DangerousAddRef(ref added);
            if (Syscall(SysPidfdSendSignal, handle.DangerousGetHandle(), 0, 0, 0) == 0)
                return true;
            // ESRCH: exited. EPERM: alive, but signalling it is not ours to do (signal 0 still says it exists).
            return Marshal.GetLastPInvokeError() != Esrch;
        }
        catch (ObjectDisposedException)
        {
            return false; // the connection is gone, and with it our word on the peer
        }
        finally
        {
            if (added)
                handle.DangerousRelease();
        }
    }

    public void Dispose() => _pidfd?.Dispose();

    public override string ToString() => $"pid {Pid} uid {Uid}";

    [LibraryImport("libc", EntryPoint = "syscall", SetLastError = true)]
    private static partial long Syscall(long number, nint a, long b, long c, long d);
}
