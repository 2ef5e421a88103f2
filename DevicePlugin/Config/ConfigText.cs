namespace MetaGpu.DevicePlugin.Config;

/// <summary>
/// Input repeated in an error or warning. Whatever a config path points at (it once pointed at <c>/etc/shadow</c>, and
/// the error echoed a password hash line), an error shows at most <see cref="ConfigLimits.MaxQuoted"/> characters of
/// a value, and stops before the first character that no setting is written with (<c>$</c>, quotes, <c>=</c>, a
/// control character, …). A cut is marked with <c>…</c>. That is enough to find a typo and too little to leak a secret.
/// </summary>
internal static class ConfigText
{
    /// <summary>The most of a library's own message (YamlDotNet's) that is shown; its messages are one short sentence.</summary>
    private const int MaxLibraryMessage = 120;

    /// <summary><paramref name="raw"/> in single quotes, bounded as above.</summary>
    public static string Quote(string? raw)
    {
        raw ??= "";
        var end = 0;
        while (end < raw.Length && end < ConfigLimits.MaxQuoted && IsPlain(raw[end]))
            end++;
        return end == raw.Length ? $"'{raw}'" : $"'{raw[..end]}…'";
    }

    /// <summary>The characters that setting names and values are made of: names, numbers, UUIDs, durations, lists.</summary>
    private static bool IsPlain(char c) =>
        char.IsLetterOrDigit(c) || c is ' ' or '.' or '_' or '-' or '/' or ':' or '*' or '+' or ',' or '@' or '~' or '(' or ')' or '[' or ']' or '{' or '}';

    /// <summary>
    /// A message of the YAML library, which can quote input (<c>Duplicate key …</c> prints the whole key): its first line,
    /// a duplicate key quoted as above, and at most <see cref="MaxLibraryMessage"/> characters.
    /// </summary>
    public static string LibraryMessage(string message)
    {
        const string duplicate = "Duplicate key ";
        var line = message.AsSpan();
        if (line.IndexOfAny('\r', '\n') is var eol and >= 0)
            line = line[..eol];
        if (line.StartsWith(duplicate, StringComparison.Ordinal))
            return duplicate + Quote(line[duplicate.Length..].ToString());
        return line.Length <= MaxLibraryMessage ? line.ToString() : string.Concat(line[..MaxLibraryMessage], "…");
    }
}
