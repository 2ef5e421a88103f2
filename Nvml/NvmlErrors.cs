using System.Runtime.InteropServices;
using MetaGpu.Nvml.Native;

namespace MetaGpu.Nvml;

/// <summary>nvmlReturn_t codes into <see cref="GpuBackendException"/>s carrying the library's own words.</summary>
internal static class NvmlErrors
{
    /// <summary>nvmlErrorString(<paramref name="code"/>).</summary>
    public static unsafe string Describe(int code)
    {
        try
        {
            var text = NvmlNative.ErrorString(code);
            if (text != null)
                return Marshal.PtrToStringUTF8((nint)text) ?? "";
        }
        catch (EntryPointNotFoundException)
        {
        }
        return $"NVML error {code}";
    }

    public static GpuBackendException Failure(string function, int code) => new(function, code, Describe(code));

    /// <summary>Throws unless <paramref name="code"/> is NVML_SUCCESS.</summary>
    public static void Check(int code, string function)
    {
        if (code != NvmlReturn.Success)
            throw Failure(function, code);
    }

    /// <summary>For optional queries: true on success, false on NVML_ERROR_NOT_SUPPORTED, throws on anything else.</summary>
    public static bool CheckOptional(int code, string function)
    {
        if (code == NvmlReturn.Success)
            return true;
        if (code == NvmlReturn.NotSupported)
            return false;
        throw Failure(function, code);
    }
}
