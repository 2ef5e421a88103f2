using System.Runtime.InteropServices;

namespace MetaGpu.Tests.DevicePlugin.Config;

/// <summary>
/// What a careless or hostile config path can hold, put in place of whatever is at the path (as a ConfigMap edit or a
/// wrong <c>--config</c> would), with the phrase the error about it must contain.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public static partial class BadConfigFiles
{
    public enum Kind { Nested, TooLarge, ShadowLike, Directory, Fifo, DevZero, DevUrandom, Unreadable }

    public static readonly Kind[] All = Enum.GetValues<Kind>();

    /// <summary>The issue's input: 120 KB, far inside a ConfigMap's 1 MiB, that overflowed the stack.</summary>
    public static readonly string NestedYaml = "x: " + new string('[', 60_000) + new string(']', 60_000) + "\n";

    /// <summary>The secret part of the shadow-like line; no error may repeat any of it.</summary>
    public const string Secret = "Zt9kQvSalt$8ZkQhashSECRETvalueXw1";

    public static readonly string ShadowLike =
        $"root:$6${Secret}:19700:0:99999:7:::\ndaemon:*:19700:0:99999:7:::\nbin:*:19700:0:99999:7:::\n";

    /// <summary>One byte more than the limit, of a comment (valid YAML: without the limit it would mean the defaults).</summary>
    public static readonly string TooLarge = "#" + new string('x', 1024 * 1024) + "\n";

    /// <summary>The phrase the error names for <paramref name="kind"/>.</summary>
    public static string Expected(Kind kind) => kind switch
    {
        Kind.Nested => "nested more than 64 deep",
        Kind.TooLarge => "at most 1 MiB",
        Kind.ShadowLike => "unknown key 'root:…' in the top level",
        Kind.Directory => "is a directory",
        Kind.Fifo => "is a named pipe (FIFO), not a regular file",
        Kind.DevZero or Kind.DevUrandom => "is a character device, not a regular file",
        Kind.Unreadable => "permission denied",
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    /// <summary>Replaces what is at <paramref name="path"/> (file, link, pipe or directory) with <paramref name="kind"/>.</summary>
    public static void Put(Kind kind, string path)
    {
        switch (kind)
        {
            case Kind.Nested:
                Replace(path, p => File.WriteAllText(p, NestedYaml));
                break;
            case Kind.TooLarge:
                Replace(path, p => File.WriteAllText(p, TooLarge));
                break;
            case Kind.ShadowLike:
                Replace(path, p => File.WriteAllText(p, ShadowLike));
                break;
            case Kind.Directory:
                Remove(path);
                Directory.CreateDirectory(path);
                File.WriteAllText(Path.Combine(path, "config.yaml"), "resources:\n  - name: a.io/x\n");
                break;
            case Kind.Fifo:
                Replace(path, p =>
                {
                    if (MakeFifo(p, Convert.ToUInt32("644", 8)) != 0)
                        throw new IOException($"mkfifo {p}: errno {Marshal.GetLastPInvokeError()}");
                });
                break;
            case Kind.DevZero:
                Replace(path, p => File.CreateSymbolicLink(p, "/dev/zero"));
                break;
            case Kind.DevUrandom:
                Replace(path, p => File.CreateSymbolicLink(p, "/dev/urandom"));
                break;
            case Kind.Unreadable:
                Replace(path, p =>
                {
                    File.WriteAllText(p, "resources:\n  - name: a.io/x\n");
                    File.SetUnixFileMode(p, UnixFileMode.None);
                });
                break;
        }
    }

    /// <summary>A valid file at <paramref name="path"/>, whatever was there.</summary>
    public static void PutValid(string path, string yaml) => Replace(path, p => File.WriteAllText(p, yaml));

    /// <summary>Made beside the path and renamed over it, so a watcher never sees the path missing (rename cannot replace a directory).</summary>
    private static void Replace(string path, Action<string> make)
    {
        if (Directory.Exists(path) && !IsLink(path))
            Directory.Delete(path, recursive: true);
        var temp = path + ".new";
        Remove(temp);
        make(temp);
        if (Rename(temp, path) != 0)
            throw new IOException($"rename {temp} {path}: errno {Marshal.GetLastPInvokeError()}");
    }

    private static bool IsLink(string path) => new FileInfo(path).LinkTarget is not null;

    private static void Remove(string path)
    {
        if (Directory.Exists(path) && !IsLink(path))
            Directory.Delete(path, recursive: true);
        else if (File.Exists(path) || IsLink(path) || IsPresent(path))
            File.Delete(path);
    }

    /// <summary>A FIFO counts neither as a file nor as a directory for File.Exists/Directory.Exists.</summary>
    private static bool IsPresent(string path)
    {
        try
        {
            _ = File.GetAttributes(path);
            return true;
        }
        catch (IOException)
        {
            return false;
        }
    }

    [LibraryImport("libc", EntryPoint = "mkfifo", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int MakeFifo(string path, uint mode);

    [LibraryImport("libc", EntryPoint = "rename", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Rename(string from, string to);

    /// <summary>
    /// A launcher for the daemon under which a mode-000 file really is unreadable, or null if this machine has none.
    /// Root reads any file, so as root the daemon runs without the capabilities that allow that (setpriv drops them
    /// from the bounding set; it stays root for everything else).
    /// </summary>
    public static string? UnreadableCapableLauncher(string binary, string dir)
    {
        var probe = Path.Combine(dir, "probe-000");
        File.WriteAllText(probe, "x");
        File.SetUnixFileMode(probe, UnixFileMode.None);
        try
        {
            if (!CanRead(probe))
                return binary;
            var launcher = Path.Combine(dir, "metagpu-without-dac");
            File.WriteAllText(launcher,
                $"#!/bin/sh\nexec setpriv --bounding-set=-dac_override,-dac_read_search --inh-caps=-all '{binary}' \"$@\"\n");
            File.SetUnixFileMode(launcher, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            var check = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("/bin/sh")
            {
                ArgumentList = { "-c", $"setpriv --bounding-set=-dac_override,-dac_read_search --inh-caps=-all cat '{probe}'" },
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            })!;
            check.WaitForExit(10_000);
            // Denied by the kernel, not failed for another reason (no setpriv, no right to change capabilities).
            return check.HasExited && check.ExitCode != 0 && check.StandardError.ReadToEnd().Contains("Permission denied", StringComparison.Ordinal)
                ? launcher
                : null;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return null;
        }
        finally
        {
            File.Delete(probe);
        }
    }

    private static bool CanRead(string path)
    {
        try
        {
            File.ReadAllBytes(path);
            return true;
        }
        catch (UnauthorizedAccessException)
        {
            return false;
        }
    }
}
