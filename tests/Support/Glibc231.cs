using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace MetaGpu.Tests.Support;

/// <summary>
/// A real glibc 2.31: Debian 11 (bullseye)'s libc6, fetched with apt-get once per test run and unpacked into a temp
/// folder (removed when the run ends, else by the next run), so a test can run a program under its loader:
/// <c>ld-linux-x86-64.so.2 --library-path DIR PROGRAM ARGS</c>. Nothing is installed on the machine.
/// <para>
/// The Debian archive is the first of the machine's apt sources (<c>apt-get indextargets</c>) that serves bullseye
/// with a release file signed by Debian's archive keyring; <c>METAGPU_TEST_DEBIAN_MIRROR</c> names another (e.g. an
/// archive that still carries bullseye once it has left the mirrors). apt-get runs with a private configuration,
/// state and cache (the machine's sources, preferences and package lists are neither read nor changed), checks that
/// signature and the package's hash against the signed index.
/// </para>
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public static class Glibc231
{
    public const string MirrorVariable = "METAGPU_TEST_DEBIAN_MIRROR";

    private const string Suite = "bullseye";
    private const string Keyring = "/usr/share/keyrings/debian-archive-keyring.gpg";
    private static readonly TimeSpan AptTimeout = TimeSpan.FromMinutes(5);

    private static readonly Lazy<Task<Glibc231Root>> Root = new(FetchAsync);

    /// <summary>The unpacked glibc 2.31; throws with what to do when it cannot be fetched.</summary>
    public static Task<Glibc231Root> GetAsync() => Root.Value;

    private static async Task<Glibc231Root> FetchAsync()
    {
        if (Which("apt-get") is null || Which("dpkg-deb") is null)
            throw Unavailable("apt-get and dpkg-deb are not installed (this needs a Debian or Ubuntu machine)");
        if (!File.Exists(Keyring))
            throw Unavailable($"{Keyring} is missing: apt-get install debian-archive-keyring");
        IReadOnlyList<string> mirrors = Environment.GetEnvironmentVariable(MirrorVariable) is { Length: > 0 } named ? [named] : await MachineMirrorsAsync();

        // One folder per test run, named by its process: a run that ended without cleaning up (the test host is often
        // killed, not exited) leaves one that the next run removes.
        RemoveLeftovers();
        var work = Directory.CreateTempSubdirectory($"{FolderPrefix}{Environment.ProcessId.ToString(CultureInfo.InvariantCulture)}-").FullName;
        AppDomain.CurrentDomain.ProcessExit += (_, _) => Remove(work);
        // apt's downloads run as the _apt user when it is root: let it reach its partial folders below ours.
        File.SetUnixFileMode(work, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupRead
            | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
        foreach (var dir in new[] { "etc/apt.conf.d", "etc/preferences.d", "etc/sources.list.d", "etc/trusted.gpg.d", "state/lists/partial", "cache/archives/partial", "debs" })
            Directory.CreateDirectory(Path.Combine(work, dir));
        File.WriteAllText(Path.Combine(work, "status"), "");
        var config = Path.Combine(work, "apt.conf");
        File.WriteAllText(config, string.Join('\n',
            $"Dir::Etc \"{work}/etc/\";",
            "Dir::Etc::main \"apt.conf\";",
            "Dir::Etc::parts \"apt.conf.d\";",
            $"Dir::State \"{work}/state/\";",
            $"Dir::State::status \"{work}/status\";",
            $"Dir::Cache \"{work}/cache/\";",
            "APT::Architecture \"amd64\";",
            "APT::Architectures { \"amd64\"; };",
            "Acquire::Languages \"none\";",
            "Acquire::Retries \"2\";",
            "Acquire::http::Timeout \"30\";",
            "Debug::NoLocking \"true\";",
            ""));

        // The first archive that serves bullseye with a release file signed by Debian's keyring.
        string? mirror = null;
        var failures = new List<string>();
        foreach (var candidate in mirrors)
        {
            File.WriteAllText(Path.Combine(work, "etc/sources.list"), $"deb [arch=amd64 signed-by={Keyring}] {candidate} {Suite} main\n");
            var (updated, said) = await AptAsync(config, work, "update");
            // apt-get update may end 0 with only a warning when a download failed: the index must be there.
            if (updated == 0 && Directory.EnumerateFiles(Path.Combine(work, "state", "lists"), $"*_dists_{Suite}_main_binary-amd64_Packages*").Any())
            {
                mirror = candidate;
                break;
            }
            failures.Add($"apt-get update of {candidate} {Suite} {(updated == 0 ? "fetched no package index" : $"failed ({updated})")}: {Tail(said)}");
        }
        if (mirror is null)
            throw Unavailable(string.Join("; ", failures));

        var debs = Path.Combine(work, "debs");
        var (downloaded, output) = await AptAsync(config, debs, "download libc6");
        if (downloaded != 0)
            throw Unavailable($"apt-get download libc6 from {mirror} {Suite} failed ({downloaded}): {Tail(output)}");
        var deb = Directory.GetFiles(debs, "libc6_2.31-*_amd64.deb").SingleOrDefault()
            ?? throw Unavailable($"apt-get download left no libc6_2.31-*_amd64.deb but: {string.Join(", ", Directory.GetFiles(debs).Select(Path.GetFileName))}");

        var root = Path.Combine(work, "root");
        var (code, unpacked) = await RunAsync("dpkg-deb", ["-x", deb, root], work, AptTimeout);
        if (code != 0)
            throw Unavailable($"dpkg-deb -x {Path.GetFileName(deb)} failed ({code}): {Tail(unpacked)}");

        var lib = Path.Combine(root, "lib", "x86_64-linux-gnu");
        var glibc = new Glibc231Root(lib, Path.Combine(lib, "ld-linux-x86-64.so.2"), Path.GetFileName(deb));
        // The loader's own word on what it is: libc.so.6 run as a program prints its release.
        var (banner, text) = await RunAsync(glibc.Loader, ["--library-path", lib, Path.Combine(lib, "libc.so.6")], work, TimeSpan.FromMinutes(1));
        if (banner != 0 || !text.Contains("release version 2.31.", StringComparison.Ordinal))
            throw Unavailable($"{Path.GetFileName(deb)} is not glibc 2.31: libc.so.6 says {Tail(text)}");
        return glibc;
    }

    /// <summary>
    /// The archives the machine's apt sources name: first those whose release file says "Label: Debian" (known once
    /// apt-get update has run), then every other one (Debian's keyring decides which of them is Debian's).
    /// </summary>
    private static async Task<IReadOnlyList<string>> MachineMirrorsAsync()
    {
        var debian = await IndexTargetsAsync("Label: Debian");
        var any = await IndexTargetsAsync("--no-release-info");
        var mirrors = debian.Concat(any).Distinct(StringComparer.Ordinal).ToList();
        return mirrors.Count > 0 ? mirrors
            : throw Unavailable($"the machine's apt sources name no archive (apt-get indextargets found none; set {MirrorVariable})");
    }

    private static async Task<IEnumerable<string>> IndexTargetsAsync(string filter)
    {
        string[] args = filter.StartsWith("--", StringComparison.Ordinal)
            ? ["indextargets", filter, "--format", "$(REPO_URI)", "Identifier: Packages"]
            : ["indextargets", "--format", "$(REPO_URI)", filter, "Identifier: Packages"];
        var (code, output) = await RunAsync("apt-get", args, Path.GetTempPath(), AptTimeout);
        return code == 0 ? output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) : [];
    }

    private static Task<(int Code, string Output)> AptAsync(string config, string directory, string arguments) =>
        RunAsync("apt-get", ["-q", .. arguments.Split(' ')], directory, AptTimeout, ("APT_CONFIG", config));

    private static InvalidOperationException Unavailable(string why) =>
        new($"cannot get glibc 2.31 (Debian {Suite}'s libc6) to run the binary under: {why.TrimEnd('.')}. This test needs apt-get and a " +
            $"reachable Debian archive (the machine's apt sources, or {MirrorVariable}=URL); CI has both. It fails rather " +
            "than skips: without it, nothing shows that the binary runs on glibc 2.31.");

    private static async Task<(int Code, string Output)> RunAsync(string file, IEnumerable<string> args, string directory, TimeSpan timeout, params (string Name, string Value)[] env)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = directory };
        foreach (var a in args)
            psi.ArgumentList.Add(a);
        foreach (var (name, value) in env)
            psi.Environment[name] = value;
        using var p = Process.Start(psi) ?? throw Unavailable($"{file} did not start");
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        try
        {
            await p.WaitForExitAsync().WaitAsync(timeout);
        }
        catch (TimeoutException)
        {
            p.Kill(entireProcessTree: true);
            throw Unavailable($"{file} {string.Join(' ', psi.ArgumentList)} took over {timeout.TotalMinutes.ToString(CultureInfo.InvariantCulture)} min");
        }
        return (p.ExitCode, await stdout + await stderr);
    }

    /// <summary>The end of a tool's output, enough to see the error without echoing pages of it.</summary>
    private static string Tail(string text) => text.Length <= 800 ? text.Trim() : "..." + text[^800..].Trim();

    private static string? Which(string command) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Append("/usr/bin").Append("/usr/sbin")
            .Where(d => d.Length > 0).Select(d => Path.Combine(d, command)).FirstOrDefault(File.Exists);

    private const string FolderPrefix = "mg-glibc-2.31-";

    private static void RemoveLeftovers()
    {
        foreach (var dir in Directory.EnumerateDirectories(Path.GetTempPath(), FolderPrefix + "*"))
        {
            var pid = Path.GetFileName(dir)[FolderPrefix.Length..].Split('-')[0];
            if (int.TryParse(pid, NumberStyles.None, CultureInfo.InvariantCulture, out var id) && !Directory.Exists($"/proc/{id.ToString(CultureInfo.InvariantCulture)}"))
                Remove(dir);
        }
    }

    private static void Remove(string directory)
    {
        try
        {
            Directory.Delete(directory, recursive: true);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}

/// <summary>An unpacked glibc 2.31: its library folder, its loader and the package it came from.</summary>
public sealed record Glibc231Root(string LibraryDirectory, string Loader, string Package)
{
    /// <summary>Runs <paramref name="program"/> under this glibc's loader and libraries, not the machine's.</summary>
    public ProcessStartInfo StartInfo(string program, IEnumerable<string> args)
    {
        var psi = new ProcessStartInfo(Loader) { RedirectStandardOutput = true, RedirectStandardError = true, StandardOutputEncoding = Encoding.UTF8 };
        foreach (var a in new[] { "--library-path", LibraryDirectory, program }.Concat(args))
            psi.ArgumentList.Add(a);
        return psi;
    }
}
