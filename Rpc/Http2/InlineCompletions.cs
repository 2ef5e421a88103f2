using System.Net.Sockets;
using System.Runtime.CompilerServices;

namespace MetaGpu.Rpc.Http2;

/// <summary>
/// Runs one socket's completions on the runtime's socket event thread instead of handing each to the thread pool.
/// <para>
/// On Linux the runtime waits for every socket in one epoll thread and, by default, queues each completion to the
/// pool: a call from the kubelet wakes the event thread, then a pool worker, before our read loop sees a byte. With
/// this set, the read loop's continuation runs on the event thread itself, one hand-over fewer; what the read loop does
/// is bounded per frame, and a handler that can wait is sent to the pool (<c>GrpcServer.Dispatch</c>).
/// </para>
/// <para>
/// The runtime has this per socket (<c>SafeSocketHandle.PreferInlineCompletions</c>) but only internally; the public
/// switch (<c>DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=1</c>) is process-wide and would put every other socket's
/// continuations (metrics, the control API, pod-resources) on that thread too. The member is reached through
/// <see cref="UnsafeAccessorAttribute"/>, which native AOT resolves when it compiles against the runtime it ships
/// with; should a runtime lack it, the call throws <see cref="MissingMethodException"/>, and the socket keeps the
/// runtime's default (tests/Transport/InlineCompletionsTests checks which it is).
/// </para>
/// </summary>
internal static class InlineCompletions
{
    [UnsafeAccessor(UnsafeAccessorKind.Method, Name = "set_PreferInlineCompletions")]
    private static extern void SetPreferInlineCompletions(SafeSocketHandle handle, bool value);

    private static bool s_missing;

    /// <summary>Asks for inline completions on <paramref name="socket"/>; false where the runtime does not have them.</summary>
    public static bool TryEnable(Socket socket)
    {
        if (Volatile.Read(ref s_missing))
            return false;
        try
        {
            SetPreferInlineCompletions(socket.SafeHandle, true);
            return true;
        }
        catch (MissingMemberException)
        {
            Volatile.Write(ref s_missing, true);
            return false;
        }
    }
}
