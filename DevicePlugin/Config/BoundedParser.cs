using System.Diagnostics;
using YamlDotNet.Core;
using YamlDotNet.Core.Events;

namespace MetaGpu.DevicePlugin.Config;

/// <summary>
/// YamlDotNet's event parser with the config's limits in front of the representation model. The parser itself is a
/// state machine and safe on any input; what is not is <c>YamlStream.Load</c>, which builds nodes by recursion, one
/// level per nesting level, and hashes each mapping key by recursion through its children and through aliases. It
/// pulls every event through here, and an event past a limit ends the load with a <see cref="ConfigException"/>
/// before the model sees it. So the model never gets:
/// <list type="bullet">
/// <item>lists and mappings nested deeper than <see cref="ConfigLimits.MaxDepth"/>, counting what an alias repeats;</item>
/// <item>more than <see cref="ConfigLimits.MaxNodes"/> nodes, counting an alias as all it repeats (an alias bomb);</item>
/// <item>an alias inside the node it names, which the model would turn into a cycle, or one with no anchor before it;</item>
/// <item>a second document, or parsing past <see cref="ConfigLimits.MaxParseTime"/>.</item>
/// </list>
/// </summary>
internal sealed class BoundedParser(string source, TextReader input) : IParser
{
    private readonly Parser _parser = new(input);
    private readonly Stack<Frame> _open = new();

    /// <summary>By anchor name, the node's size and height once it is complete; null while it is still open.</summary>
    private readonly Dictionary<string, Subtree?> _anchors = new(StringComparer.Ordinal);

    private readonly long _deadline = Stopwatch.GetTimestamp() + (long)(ConfigLimits.MaxParseTime.TotalSeconds * Stopwatch.Frequency);
    private long _nodes;
    private int _documents;

    public ParsingEvent? Current => _parser.Current;

    public bool MoveNext()
    {
        if (!_parser.MoveNext())
            return false;
        Check(_parser.Current!);
        return true;
    }

    private void Check(ParsingEvent e)
    {
        if (Stopwatch.GetTimestamp() > _deadline)
            throw Error(e, $"parsing took longer than {ConfigLimits.MaxParseTime.TotalSeconds:0} s, the limit for a config file");
        switch (e)
        {
            case DocumentStart when ++_documents > 1:
                throw Error(e, "only one YAML document is allowed (found a second after ---)");
            case Scalar scalar:
                Count(e, 1);
                Complete(scalar.Anchor, new Subtree(1, 0));
                break;
            case SequenceStart or MappingStart:
                if (_open.Count + 1 > ConfigLimits.MaxDepth)
                    throw TooDeep(e, "");
                Count(e, 1);
                var anchor = ((NodeEvent)e).Anchor;
                if (!anchor.IsEmpty)
                    _anchors[anchor.Value] = null;
                _open.Push(new Frame(anchor));
                break;
            case SequenceEnd or MappingEnd:
                var frame = _open.Pop();
                Complete(frame.Anchor, new Subtree(frame.Size + 1, frame.Height + 1));
                break;
            case AnchorAlias alias:
                var name = alias.Value.Value;
                var quoted = ConfigText.Quote("*" + name);
                if (!_anchors.TryGetValue(name, out var target))
                    throw Error(e, $"the alias {quoted} has no anchor (&) of that name before it");
                if (target is not { } t)
                    throw Error(e, $"the alias {quoted} is inside the node it names, which would make that node contain itself");
                if (_open.Count + t.Height > ConfigLimits.MaxDepth)
                    throw TooDeep(e, $", counting what the alias {quoted} repeats");
                Count(e, t.Size);
                AddToParent(t);
                break;
        }
    }

    /// <summary>A node is complete: it counts in its parent, and an anchored one can be repeated from now on.</summary>
    private void Complete(AnchorName anchor, Subtree node)
    {
        if (!anchor.IsEmpty)
            _anchors[anchor.Value] = node;
        AddToParent(node);
    }

    private void AddToParent(Subtree node)
    {
        if (_open.TryPeek(out var parent))
        {
            parent.Size += node.Size;
            parent.Height = Math.Max(parent.Height, node.Height);
        }
    }

    private void Count(ParsingEvent e, long nodes)
    {
        _nodes += nodes;
        if (_nodes > ConfigLimits.MaxNodes)
        {
            throw Error(e, $"the file has more than {ConfigLimits.MaxNodes} values, lists and mappings (an alias counts as all it repeats), " +
                "the limit for a config file");
        }
    }

    private ConfigException TooDeep(ParsingEvent e, string how) =>
        Error(e, $"lists and mappings are nested more than {ConfigLimits.MaxDepth} deep{how}, the limit for a config file (the settings need at most 4)");

    private ConfigException Error(ParsingEvent e, string message) =>
        new(source, (int)Math.Clamp(e.Start.Line, 1, int.MaxValue), message);

    /// <summary>An open list or mapping: its anchor, and the size and height of what it holds so far.</summary>
    private sealed class Frame(AnchorName anchor)
    {
        public AnchorName Anchor { get; } = anchor;
        public long Size { get; set; }
        public int Height { get; set; }
    }

    /// <param name="Size">Nodes, with each alias in it counted as all it repeats.</param>
    /// <param name="Height">Lists and mappings nested in it, itself included (0 for a value).</param>
    private readonly record struct Subtree(long Size, int Height);
}
