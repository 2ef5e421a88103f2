namespace MetaGpu.Control.Cli;

/// <summary>
/// The few colours mgctl uses (bold headers, memory over its limit in red), or none: only on a terminal, without
/// NO_COLOR, and not on a dumb one (<see cref="MgctlEnvironment.UseColour"/>).
/// </summary>
internal sealed class Styler(bool enabled)
{
    private const string Reset = "\u001b[0m";

    public static readonly Styler Plain = new(false);

    public bool Enabled { get; } = enabled;

    public string Apply(CellStyle style, string text) => !Enabled || style == CellStyle.None || text.Length == 0 ? text : style switch
    {
        CellStyle.Bold => "\u001b[1m" + text + Reset,
        CellStyle.Alert => "\u001b[1;31m" + text + Reset,
        _ => text,
    };
}

internal enum CellStyle
{
    None,
    Bold,
    Alert,
}
