using System.Runtime.InteropServices;

namespace MetaGpu.Control.Cli;

/// <summary>
/// A write-only stream over an inherited file descriptor (standard output or error) with plain write(2): the Console
/// class would set the terminal up first (terminfo, signal handling), which costs more than mgctl's call, and a
/// FileStream would write at its own offset, over what the other descriptor wrote to the same file.
/// </summary>
internal sealed partial class DescriptorStream(int fd) : Stream
{
    private const int EINTR = 4;
    private const int EAGAIN = 11;

    [LibraryImport(TerminalSize.Libc, EntryPoint = "write", SetLastError = true)]
    private static unsafe partial nint SysWrite(int fd, byte* buffer, nuint count);

    public override unsafe void Write(ReadOnlySpan<byte> buffer)
    {
        fixed (byte* start = buffer)
        {
            var done = 0;
            while (done < buffer.Length)
            {
                var n = SysWrite(fd, start + done, (nuint)(buffer.Length - done));
                if (n >= 0)
                {
                    done += (int)n;
                    continue;
                }
                var errno = Marshal.GetLastPInvokeError();
                if (errno == EINTR)
                    continue;
                if (errno == EAGAIN)
                {
                    Thread.Sleep(1); // a descriptor someone made non-blocking: wait for the reader
                    continue;
                }
                // EPIPE (the reader went away, e.g. '| head'), EBADF (closed): the caller decides what that means.
                throw new IOException($"write to file descriptor {fd} failed (errno {errno})", errno);
            }
        }
    }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void Flush()
    {
    }

    public override bool CanRead => false;
    public override bool CanSeek => false;
    public override bool CanWrite => true;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
}
