using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;

namespace MetaGpu.Tests.Support;

/// <summary>
/// What an ELF file asks of the dynamic loader, as binutils' readelf reports it (binutils comes with gcc, which the
/// tests need anyway): its NEEDED libraries, its version needs (.gnu.version_r: which file must define which
/// version) and its undefined dynamic symbols with the version each is bound to.
/// </summary>
public sealed partial record ElfImports(
    IReadOnlyList<string> Needed,
    IReadOnlyList<(string File, string Version)> VersionNeeds,
    IReadOnlyList<(string Symbol, string Version)> Symbols)
{
    public static async Task<ElfImports> ReadAsync(string path)
    {
        var dynamic = await ReadElfAsync(path, "--dynamic");
        var versions = await ReadElfAsync(path, "--version-info");
        var symbols = await ReadElfAsync(path, "--dyn-syms");
        return new(
            NeededEntry().Matches(dynamic).Select(m => m.Groups[1].Value).ToList(),
            ParseVersionNeeds(versions),
            UndefinedSymbol().Matches(symbols).Select(m => (m.Groups["name"].Value, m.Groups["version"].Value)).Distinct().ToList());
    }

    /// <summary>The number in a <c>GLIBC_2.3.4</c> version name; null for any other name (GLIBCXX_3.4, GCC_3.0, ...).</summary>
    public static Version? GlibcVersion(string name)
    {
        var m = GlibcName().Match(name);
        return m.Success && Version.TryParse(m.Groups[1].Value, out var v) ? v : null;
    }

    /// <summary>The highest glibc version any version need names; null when there is none.</summary>
    public Version? HighestGlibc =>
        VersionNeeds.Select(v => GlibcVersion(v.Version)).Where(v => v is not null).Max();

    /// <summary>The imported symbols bound to a glibc version newer than <paramref name="floor"/>, as NAME@GLIBC_x.</summary>
    public IReadOnlyList<string> SymbolsNewerThan(Version floor) =>
        Symbols.Where(s => GlibcVersion(s.Version) is { } v && v > floor)
            .OrderBy(s => GlibcVersion(s.Version)).ThenBy(s => s.Symbol, StringComparer.Ordinal)
            .Select(s => $"{s.Symbol}@{s.Version}").ToList();

    /// <summary>
    /// The <c>.gnu.version_r</c> part of <c>readelf --version-info</c>: "File: NAME" lines, each followed by its
    /// "Name: VERSION" lines, until the next section's header.
    /// </summary>
    private static List<(string File, string Version)> ParseVersionNeeds(string text)
    {
        var needs = new List<(string, string)>();
        var inNeeds = false;
        string? file = null;
        foreach (var line in text.Split('\n'))
        {
            if (line.Contains(" section '", StringComparison.Ordinal))
            {
                inNeeds = line.Contains("'.gnu.version_r'", StringComparison.Ordinal);
                file = null;
                continue;
            }
            if (!inNeeds)
                continue;
            if (NeedFile().Match(line) is { Success: true } f)
                file = f.Groups[1].Value;
            else if (file is not null && NeedVersion().Match(line) is { Success: true } v)
                needs.Add((file, v.Groups[1].Value));
        }
        return needs;
    }

    private static async Task<string> ReadElfAsync(string path, string option)
    {
        var psi = new ProcessStartInfo("readelf") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "--wide", option, path })
            psi.ArgumentList.Add(a);
        Process p;
        try
        {
            p = Process.Start(psi) ?? throw new InvalidOperationException("readelf did not start");
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InvalidOperationException($"cannot run readelf ({e.Message}): install binutils (apt-get install binutils; gcc brings it)", e);
        }
        using (p)
        {
            var stdout = p.StandardOutput.ReadToEndAsync();
            var stderr = p.StandardError.ReadToEndAsync();
            await p.WaitForExitAsync().WaitAsync(TimeSpan.FromMinutes(1));
            if (p.ExitCode != 0)
                throw new InvalidOperationException($"readelf {option} {path} failed ({p.ExitCode.ToString(CultureInfo.InvariantCulture)}): {await stderr}");
            return await stdout;
        }
    }

    [GeneratedRegex(@"\(NEEDED\)\s+Shared library: \[([^\]]+)\]")]
    private static partial Regex NeededEntry();

    [GeneratedRegex(@"^\s*(?:0x)?[0-9a-f]+:\s+Version: \d+\s+File: (\S+)\s+Cnt: \d+")]
    private static partial Regex NeedFile();

    [GeneratedRegex(@"^\s*(?:0x)?[0-9a-f]+:\s+Name: (\S+)\s+Flags:")]
    private static partial Regex NeedVersion();

    /// <summary>A line of <c>--dyn-syms</c> for an undefined (imported) symbol with a version: "UND name@VERSION (n)".</summary>
    [GeneratedRegex(@"\sUND\s+(?<name>[^@\s]+)@(?<version>[A-Za-z0-9_.]+)")]
    private static partial Regex UndefinedSymbol();

    [GeneratedRegex(@"^GLIBC_(\d+\.\d+(?:\.\d+)?)$")]
    private static partial Regex GlibcName();
}
