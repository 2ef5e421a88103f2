using System.Reflection;
using System.Runtime.InteropServices;

namespace MetaGpu.Nvml.Native;

/// <summary>
/// Which file <see cref="NvmlNative.Library"/> means: the path given to <see cref="NvmlBackend.Open"/>, else
/// <c>$METAGPU_NVML_LIBRARY</c>, else <c>libnvidia-ml.so.1</c> from the loader's search path. A process binds one NVML
/// library: the imports are bound on first call and stay bound, so a later request for another file is refused.
/// </summary>
internal static class NvmlLibrary
{
    public const string PathVariable = "METAGPU_NVML_LIBRARY";
    public const string DefaultFileName = "libnvidia-ml.so.1";

    /// <summary>An export every usable NVML has; a library without it is not NVML (or is older than the bindings).</summary>
    private const string ProbeExport = "nvmlInit_v2";

    private static readonly Lock Gate = new();
    private static bool s_resolverInstalled;
    private static nint s_handle;
    private static string? s_path;

    /// <summary>The path a call with <paramref name="explicitPath"/> would load.</summary>
    public static string ChoosePath(string? explicitPath)
    {
        if (!string.IsNullOrEmpty(explicitPath))
            return explicitPath;
        var fromEnvironment = Environment.GetEnvironmentVariable(PathVariable);
        return string.IsNullOrEmpty(fromEnvironment) ? DefaultFileName : fromEnvironment;
    }

    /// <summary>
    /// Loads <paramref name="path"/> and makes it the library the imports bind to.
    /// Throws <see cref="DllNotFoundException"/> when it cannot be found, <see cref="NotAnNvmlLibraryException"/> when the
    /// file is there but cannot be loaded (a text file, another architecture), <see cref="EntryPointNotFoundException"/>
    /// when it loads but is no NVML, and <see cref="InvalidOperationException"/> when another NVML file is already bound.
    /// </summary>
    public static void Load(string path)
    {
        lock (Gate)
        {
            InstallResolver();
            if (s_handle != 0 && s_path == path)
                return;

            if (!NativeLibrary.TryLoad(path, out var handle))
            {
                if (path.Contains('/') && File.Exists(path))
                    throw new NotAnNvmlLibraryException(path, WhyNotLoadable(path));
                throw new DllNotFoundException($"{path} not found");
            }
            if (handle == s_handle)
                return; // the same file under another name: dlopen hands back the same handle.
            if (!NativeLibrary.TryGetExport(handle, ProbeExport, out _))
            {
                NativeLibrary.Free(handle);
                throw new EntryPointNotFoundException($"{path} is not an NVML library: it has no {ProbeExport} (or it is an NVML older than this build supports).");
            }
            if (s_handle != 0)
            {
                NativeLibrary.Free(handle);
                throw new InvalidOperationException($"This process already uses the NVML library {s_path}; it cannot switch to {path}.");
            }
            s_handle = handle;
            s_path = path;
        }
    }

    /// <summary>Why a file that exists does not load: the common cases, told apart by its first bytes.</summary>
    private static string WhyNotLoadable(string path)
    {
        Span<byte> magic = stackalloc byte[4];
        try
        {
            using var file = File.OpenRead(path);
            if (file.ReadAtLeast(magic, 4, throwOnEndOfStream: false) < 4 || !magic.SequenceEqual("\u007fELF"u8))
                return "it is not a shared library (no ELF header)";
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return "it cannot be read";
        }
        return "the dynamic loader refused it (built for another architecture, or a library it needs is missing)";
    }

    private static void InstallResolver()
    {
        if (s_resolverInstalled)
            return;
        NativeLibrary.SetDllImportResolver(typeof(NvmlLibrary).Assembly, Resolve);
        s_resolverInstalled = true;
    }

    private static nint Resolve(string libraryName, Assembly assembly, DllImportSearchPath? searchPath)
    {
        if (libraryName != NvmlNative.Library)
            return 0; // the runtime's default probing for anything else.
        lock (Gate)
        {
            if (s_handle == 0)
            {
                // An import called before any Load: bind to the default choice.
                var path = ChoosePath(null);
                s_handle = NativeLibrary.Load(path);
                s_path = path;
            }
            return s_handle;
        }
    }
}

/// <summary>A file given as the NVML library exists but is no loadable library.</summary>
internal sealed class NotAnNvmlLibraryException(string path, string reason)
    : DllNotFoundException($"{path} is not an NVML library: {reason}.");
