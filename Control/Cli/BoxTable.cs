using System.Text;

namespace MetaGpu.Control.Cli;

internal enum Align
{
    Left,
    Right,
}

/// <param name="Shrinks">The column to shorten (with "...") when the table is wider than the terminal: the command.</param>
internal sealed record Column(string Header, Align Align = Align.Left, bool Shrinks = false);

internal readonly record struct Cell(string Text, CellStyle Style = CellStyle.None)
{
    public static implicit operator Cell(string text) => new(text);
}

/// <summary>One boxed block: an optional title line, the column headers, a '=' rule, the rows (or a line saying there are none).</summary>
internal sealed class Block(string? title, IReadOnlyList<Column> columns, string emptyText)
{
    public string? Title { get; } = title;
    public IReadOnlyList<Column> Columns { get; } = columns;
    public List<Cell[]> Rows { get; } = [];
    public string EmptyText { get; } = emptyText;

    public void Add(params Cell[] row) => Rows.Add(row);
}

/// <summary>
/// Boxes drawn as nvidia-smi draws them: a header box of lines with parts spread left, centre and right, then blocks
/// of aligned columns, all of one width. The header box and the first block share a border; later blocks stand apart.
/// Widths count characters (the text is ASCII except what processes and names bring).
/// </summary>
internal static class BoxTable
{
    private const string Gap = "  ";
    private const int MinShrunk = 12;

    /// <param name="header">Lines of one to three parts.</param>
    /// <param name="maxWidth">The terminal's width: shrinking columns are shortened to fit it, when it is known.</param>
    public static string Render(IReadOnlyList<string[]> header, IReadOnlyList<Block> blocks, int? maxWidth, Styler styler)
    {
        var widths = new List<int[]>(blocks.Count);
        foreach (var block in blocks)
            widths.Add(ColumnWidths(block));
        if (maxWidth is { } limit)
        {
            for (var b = 0; b < blocks.Count; b++)
                Shrink(blocks[b], widths[b], limit - 4);
        }
        var inner = 0;
        foreach (var line in header)
            inner = Math.Max(inner, TotalLength(line) + 3 * (line.Length - 1));
        for (var b = 0; b < blocks.Count; b++)
        {
            inner = Math.Max(inner, RowWidth(widths[b]));
            inner = Math.Max(inner, blocks[b].Title?.Length ?? 0);
            inner = Math.Max(inner, blocks[b].EmptyText.Length);
        }

        var sb = new StringBuilder();
        var border = "+" + new string('-', inner + 2) + "+\n";
        if (header.Count > 0)
            sb.Append(border);
        for (var i = 0; i < header.Count; i++)
            Line(sb, Spread(header[i], inner), inner, styler, i == 0 ? CellStyle.Bold : CellStyle.None);
        for (var b = 0; b < blocks.Count; b++)
        {
            var block = blocks[b];
            if (b > 0)
                sb.Append('\n');
            sb.Append(border); // the first block shares the header box's bottom border
            if (block.Title is { } title)
                Line(sb, title, inner, styler, CellStyle.Bold);
            var head = new StringBuilder();
            for (var c = 0; c < block.Columns.Count; c++)
            {
                if (c > 0)
                    head.Append(Gap);
                head.Append(Pad(block.Columns[c].Header, widths[b][c], block.Columns[c].Align));
            }
            Line(sb, head.ToString(), inner, styler, CellStyle.None);
            sb.Append('|').Append('=', inner + 2).Append("|\n");
            if (block.Rows.Count == 0)
                Line(sb, block.EmptyText, inner, styler, CellStyle.None);
            foreach (var row in block.Rows)
                Row(sb, block, row, widths[b], inner, styler);
            sb.Append(border);
        }
        return sb.ToString();
    }

    private static int[] ColumnWidths(Block block)
    {
        var widths = new int[block.Columns.Count];
        for (var c = 0; c < widths.Length; c++)
            widths[c] = block.Columns[c].Header.Length;
        foreach (var row in block.Rows)
        {
            for (var c = 0; c < widths.Length && c < row.Length; c++)
                widths[c] = Math.Max(widths[c], row[c].Text.Length);
        }
        return widths;
    }

    private static int RowWidth(int[] widths)
    {
        var sum = 0;
        foreach (var w in widths)
            sum += w;
        return sum + Gap.Length * Math.Max(0, widths.Length - 1);
    }

    private static int TotalLength(string[] parts)
    {
        var sum = 0;
        foreach (var p in parts)
            sum += p.Length;
        return sum;
    }

    private static int ShrinkingColumn(Block block)
    {
        for (var c = 0; c < block.Columns.Count; c++)
        {
            if (block.Columns[c].Shrinks)
                return c;
        }
        return -1;
    }

    /// <summary>Shortens the block's shrinking column (and its cells) until the row fits <paramref name="limit"/>, not below 12.</summary>
    private static void Shrink(Block block, int[] widths, int limit)
    {
        var c = ShrinkingColumn(block);
        if (c < 0 || RowWidth(widths) <= limit)
            return;
        var target = Math.Max(Math.Max(MinShrunk, block.Columns[c].Header.Length), widths[c] - (RowWidth(widths) - limit));
        if (target >= widths[c])
            return;
        widths[c] = target;
        for (var r = 0; r < block.Rows.Count; r++)
        {
            var row = block.Rows[r];
            if (c < row.Length && row[c].Text.Length > target)
                row[c] = row[c] with { Text = Text.Printable(row[c].Text, target) };
        }
    }

    private static void Row(StringBuilder sb, Block block, Cell[] row, int[] widths, int inner, Styler styler)
    {
        sb.Append("| ");
        var used = 0;
        for (var c = 0; c < widths.Length; c++)
        {
            if (c > 0)
            {
                sb.Append(Gap);
                used += Gap.Length;
            }
            var cell = c < row.Length ? row[c] : new Cell("");
            var pad = widths[c] - cell.Text.Length;
            if (block.Columns[c].Align == Align.Right)
                sb.Append(' ', pad);
            sb.Append(styler.Apply(cell.Style, cell.Text));
            if (block.Columns[c].Align == Align.Left)
                sb.Append(' ', pad);
            used += widths[c];
        }
        sb.Append(' ', inner - used).Append(" |\n");
    }

    private static void Line(StringBuilder sb, string text, int inner, Styler styler, CellStyle style)
    {
        text = text.TrimEnd();
        sb.Append("| ").Append(styler.Apply(style, text)).Append(' ', Math.Max(0, inner - text.Length)).Append(" |\n");
    }

    private static string Pad(string text, int width, Align align) =>
        align == Align.Right ? text.PadLeft(width) : text.PadRight(width);

    /// <summary>One, two or three parts over <paramref name="inner"/> columns: left, (centre,) right.</summary>
    private static string Spread(string[] parts, int inner)
    {
        if (parts.Length == 1)
            return parts[0];
        if (parts.Length == 2)
            return parts[0] + new string(' ', Math.Max(3, inner - parts[0].Length - parts[1].Length)) + parts[1];
        var free = inner - TotalLength(parts);
        var left = Math.Max(3, free / 2);
        var right = Math.Max(3, free - left);
        return parts[0] + new string(' ', left) + parts[1] + new string(' ', right) + parts[2];
    }
}
