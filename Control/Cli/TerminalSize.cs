using System.Runtime.InteropServices;

namespace MetaGpu.Control.Cli;

/// <summary>
/// isatty and the window size straight from the kernel: <c>Console.WindowWidth</c> would load the terminfo database
/// first, which costs more than everything else mgctl does before its first call.
/// </summary>
internal static partial class TerminalSize
{
    /// <summary>
    /// glibc by its soname: plain "libc" makes the runtime probe a dozen names and paths (libc.so, liblibc.so, …) before
    /// it finds it, about 0.4 ms of mgctl's start measured with perf. mgctl needs glibc anyway (docs/glibc.md).
    /// </summary>
    public const string Libc = "libc.so.6";

    // Linux's TIOCGWINSZ, the same on x86-64 and arm64 (asm-generic).
    private const nuint TIOCGWINSZ = 0x5413;

    [StructLayout(LayoutKind.Sequential)]
    private struct WinSize
    {
        public ushort Rows;
        public ushort Columns;
        public ushort XPixels;
        public ushort YPixels;
    }

    [LibraryImport(Libc, EntryPoint = "isatty")]
    private static partial int IsATty(int fd);

    [LibraryImport(Libc, EntryPoint = "ioctl")]
    private static partial int IoctlWinSize(int fd, nuint request, out WinSize size);

    public static bool IsTerminal(int fd) => IsATty(fd) == 1;

    /// <summary>The width in columns, or null when the kernel does not know it (0 is what a serial line may say).</summary>
    public static int? Columns(int fd) => IoctlWinSize(fd, TIOCGWINSZ, out var size) == 0 && size.Columns > 0 ? size.Columns : null;
}
