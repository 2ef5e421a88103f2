namespace MetaGpu;

/// <summary>
/// The options after a command: <c>--name value</c>, <c>--name=value</c> and bare <c>--switch</c>. Unknown options
/// are errors that name the option, so a typo never passes silently.
/// </summary>
public sealed class CommandLine
{
    private readonly Dictionary<string, string?> _options = new(StringComparer.Ordinal);
    private readonly HashSet<string> _used = new(StringComparer.Ordinal);

    /// <summary>Short forms accepted for long options, e.g. <c>-o</c> for <c>--output</c>.</summary>
    private static readonly Dictionary<string, string> Aliases = new(StringComparer.Ordinal) { ["-o"] = "--output" };

    public CommandLine(IEnumerable<string> args, params string[] switches)
    {
        using var e = args.GetEnumerator();
        while (e.MoveNext())
        {
            var arg = Aliases.TryGetValue(e.Current, out var alias) ? alias : e.Current;
            if (!arg.StartsWith("--", StringComparison.Ordinal) || arg.Length == 2)
            {
                Positional.Add(arg);
                continue;
            }
            var eq = arg.IndexOf('=');
            if (eq > 0)
            {
                _options[arg[2..eq]] = arg[(eq + 1)..];
            }
            else if (switches.Contains(arg[2..]))
            {
                _options[arg[2..]] = null;
            }
            else
            {
                if (!e.MoveNext())
                    throw new UsageException($"option {arg} needs a value");
                _options[arg[2..]] = e.Current;
            }
        }
    }

    public List<string> Positional { get; } = [];

    public string? Get(string name)
    {
        _used.Add(name);
        return _options.TryGetValue(name, out var v) ? v : null;
    }

    public bool Has(string name)
    {
        _used.Add(name);
        return _options.ContainsKey(name);
    }

    public string Require(string name) => Get(name) ?? throw new UsageException($"option --{name} is required");

    public TimeSpan GetDuration(string name, TimeSpan fallback)
    {
        var raw = Get(name);
        if (raw is null)
            return fallback;
        if (raw.EndsWith("ms", StringComparison.Ordinal) && double.TryParse(raw[..^2], System.Globalization.CultureInfo.InvariantCulture, out var ms) && ms >= 0)
            return TimeSpan.FromMilliseconds(ms);
        if (raw.EndsWith('s') && double.TryParse(raw[..^1], System.Globalization.CultureInfo.InvariantCulture, out var s) && s >= 0)
            return TimeSpan.FromSeconds(s);
        throw new UsageException($"option --{name}: '{raw}' is not a duration (use e.g. 500ms or 2s)");
    }

    /// <summary>Fails on options nobody asked for.</summary>
    public void ThrowIfUnknown()
    {
        foreach (var name in _options.Keys)
        {
            if (!_used.Contains(name))
                throw new UsageException($"unknown option --{name}");
        }
    }
}

/// <summary>A mistake on the command line: printed with the usage, exit code 2.</summary>
public sealed class UsageException(string message) : Exception(message);
