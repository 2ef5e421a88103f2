using System.Text;
using System.Text.Json;
using System.Xml.Linq;
using k8s;
using k8s.Models;
using MetaGpu.Tests.DevicePlugin;

namespace MetaGpu.Tests.Shipping;

/// <summary>The shipping files (Dockerfile, static.yaml, .ci/run, MetaGpu.csproj) read from the repository root.</summary>
internal static class ShippingFiles
{
    public static string Root => PublishedBinary.RepositoryRoot;

    public static string PathOf(string relative) => Path.Combine(Root, relative);

    public static string Read(string relative) => File.ReadAllText(PathOf(relative));

    /// <summary>MetaGpu.csproj's <c>&lt;Version&gt;</c>: the product version every shipping file must carry.</summary>
    public static string ProductVersion =>
        XDocument.Load(PathOf("MetaGpu.csproj")).Descendants("Version").Single().Value.Trim();

    /// <summary>static.yaml as the API server would read it: typed objects, strict (an unknown or misspelt field is an error).</summary>
    public static Manifest LoadManifest() =>
        new(KubernetesYaml.LoadAllFromString(Read("static.yaml"), typeMap: null, strict: true));

    public static DockerStage[] LoadDockerfile() => Dockerfile.Parse(Read("Dockerfile"));

    /// <summary>The <c>dotnet publish</c> command line of .ci/run, as words (the shell's quotes removed, redirections dropped).</summary>
    public static IReadOnlyList<string> CiPublishCommand()
    {
        var commands = Shell.Commands(Read(".ci/run")).Where(IsDotnetPublish).ToList();
        return Assert.Single(commands);
    }

    public static bool IsDotnetPublish(IReadOnlyList<string> words) =>
        words.Count >= 2 && words[0] == "dotnet" && words[1] == "publish";
}

/// <summary>static.yaml's objects, and the few facts about them that several tests use.</summary>
internal sealed class Manifest(IReadOnlyList<object> objects)
{
    public IReadOnlyList<object> Objects { get; } = objects;

    public V1Namespace Namespace => Assert.Single(Objects.OfType<V1Namespace>());

    public V1ConfigMap ConfigMap => Assert.Single(Objects.OfType<V1ConfigMap>());

    public V1DaemonSet DaemonSet => Assert.Single(Objects.OfType<V1DaemonSet>());

    public V1PodSpec Pod => DaemonSet.Spec.Template.Spec;

    public V1Container Container => Assert.Single(Pod.Containers);

    /// <summary>The value after <c>--name</c> in the container's args; fails unless it is there exactly once.</summary>
    public string Arg(string name) => ValueOf(Container.Args, name);

    public static string ValueOf(IList<string>? words, string name)
    {
        Assert.NotNull(words);
        var at = words.Select((w, i) => (w, i)).Where(p => p.w == name).Select(p => p.i).ToList();
        var index = Assert.Single(at);
        Assert.True(index + 1 < words.Count, $"{name} has no value");
        return words[index + 1];
    }

    /// <summary>The hostPath volume of <paramref name="path"/>; fails unless there is exactly one.</summary>
    public V1Volume HostPathVolume(string path) => Assert.Single(Pod.Volumes, v => v.HostPath?.Path == path);

    /// <summary>Every hostPath volume.</summary>
    public IEnumerable<V1Volume> HostPathVolumes => Pod.Volumes.Where(v => v.HostPath is not null);

    public V1VolumeMount MountOf(string volume) => Assert.Single(Container.VolumeMounts, m => m.Name == volume);

    /// <summary>The ConfigMap's config file, the text the daemon reads at <c>--config</c>.</summary>
    public string ConfigYaml => ConfigMap.Data["config.yaml"];
}

public sealed record DockerInstruction(string Keyword, string Arguments, int Line);

/// <summary>One <c>FROM</c> and what follows it, up to the next <c>FROM</c>.</summary>
public sealed record DockerStage(string BaseImage, string? Name, IReadOnlyList<DockerInstruction> Instructions)
{
    public IEnumerable<DockerInstruction> All(string keyword) =>
        Instructions.Where(i => string.Equals(i.Keyword, keyword, StringComparison.OrdinalIgnoreCase));

    /// <summary>The stage's ENV variables (<c>ENV A=b C=d</c>, and the old <c>ENV A b</c>).</summary>
    public Dictionary<string, string> Env()
    {
        var env = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var i in All("ENV"))
        {
            var words = Shell.Words(i.Arguments);
            if (words.Count >= 1 && !words[0].Contains('=', StringComparison.Ordinal))
            {
                env[words[0]] = string.Join(' ', words.Skip(1));
                continue;
            }
            foreach (var w in words)
            {
                var eq = w.IndexOf('=', StringComparison.Ordinal);
                Assert.True(eq > 0, $"line {i.Line}: ENV word '{w}' is not NAME=value");
                env[w[..eq]] = w[(eq + 1)..];
            }
        }
        return env;
    }

    /// <summary>The stage's LABELs (<c>LABEL key="value" ...</c>).</summary>
    public Dictionary<string, string> Labels()
    {
        var labels = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var w in All("LABEL").SelectMany(i => Shell.Words(i.Arguments)))
        {
            var eq = w.IndexOf('=', StringComparison.Ordinal);
            labels[w[..eq]] = w[(eq + 1)..];
        }
        return labels;
    }

    /// <summary>An exec-form (JSON array) instruction's words, e.g. ENTRYPOINT or CMD.</summary>
    public string[] ExecForm(string keyword)
    {
        var instruction = Assert.Single(All(keyword));
        Assert.True(instruction.Arguments.TrimStart().StartsWith('['), $"line {instruction.Line}: {keyword} must use the exec (JSON array) form: a distroless image has no shell");
        return JsonSerializer.Deserialize<string[]>(instruction.Arguments)!;
    }
}

/// <summary>A small Dockerfile reader: comments, line continuations, stages. Enough for the checks, not a full parser.</summary>
public static class Dockerfile
{
    public static DockerStage[] Parse(string text)
    {
        var stages = new List<(string Image, string? Name, List<DockerInstruction> Instructions)>();
        foreach (var (line, number) in LogicalLines(text))
        {
            var space = line.IndexOfAny([' ', '\t']);
            var keyword = (space < 0 ? line : line[..space]).ToUpperInvariant();
            var arguments = space < 0 ? "" : line[(space + 1)..].Trim();
            if (keyword == "FROM")
            {
                var words = arguments.Split(' ', StringSplitOptions.RemoveEmptyEntries).Where(w => !w.StartsWith("--", StringComparison.Ordinal)).ToArray();
                var name = words.Length == 3 && words[1].Equals("AS", StringComparison.OrdinalIgnoreCase) ? words[2] : null;
                stages.Add((words[0], name, []));
                continue;
            }
            Assert.True(stages.Count > 0, $"line {number}: {keyword} before the first FROM");
            stages[^1].Instructions.Add(new DockerInstruction(keyword, arguments, number));
        }
        return stages.Select(s => new DockerStage(s.Image, s.Name, s.Instructions)).ToArray();
    }

    /// <summary>Instructions with their continuation lines joined; comment lines (also inside a continuation) dropped.</summary>
    private static IEnumerable<(string Line, int Number)> LogicalLines(string text)
    {
        var lines = text.Replace("\r\n", "\n", StringComparison.Ordinal).Split('\n');
        var current = new StringBuilder();
        var start = 0;
        for (var i = 0; i < lines.Length; i++)
        {
            var line = lines[i].Trim();
            if (line.StartsWith('#') || (line.Length == 0 && current.Length == 0))
                continue;
            if (current.Length == 0)
                start = i + 1;
            var continued = line.EndsWith('\\');
            current.Append(continued ? line[..^1] : line).Append(' ');
            if (!continued)
            {
                yield return (current.ToString().Trim(), start);
                current.Clear();
            }
        }
        if (current.Length > 0)
            yield return (current.ToString().Trim(), start);
    }
}

/// <summary>Just enough POSIX shell word splitting to compare command lines: quotes, escapes, <c>&amp;&amp; || ; |</c>.</summary>
public static class Shell
{
    /// <summary>The simple commands in a script (or one RUN line), as words; redirections (<c>2&gt;&amp;1</c>) are dropped.</summary>
    public static List<List<string>> Commands(string script)
    {
        var commands = new List<List<string>>();
        var words = new List<string>();
        var word = new StringBuilder();
        var inWord = false;
        script = script.Replace("\\\r\n", " ", StringComparison.Ordinal).Replace("\\\n", " ", StringComparison.Ordinal);

        void EndWord()
        {
            if (inWord && !System.Text.RegularExpressions.Regex.IsMatch(word.ToString(), @"^\d*[<>]"))
                words.Add(word.ToString());
            word.Clear();
            inWord = false;
        }

        void EndCommand()
        {
            EndWord();
            if (words.Count > 0)
                commands.Add(words);
            words = [];
        }

        for (var i = 0; i < script.Length; i++)
        {
            var c = script[i];
            switch (c)
            {
                case '\'':
                    {
                        var end = script.IndexOf('\'', i + 1);
                        word.Append(script, i + 1, end - i - 1);
                        inWord = true;
                        i = end;
                        break;
                    }
                case '"':
                    {
                        i++;
                        for (; i < script.Length && script[i] != '"'; i++)
                        {
                            if (script[i] == '\\' && i + 1 < script.Length && script[i + 1] is '"' or '\\' or '$' or '`')
                                i++;
                            word.Append(script[i]);
                        }
                        inWord = true;
                        break;
                    }
                case '\\' when i + 1 < script.Length:
                    word.Append(script[++i]);
                    inWord = true;
                    break;
                case '#' when !inWord:
                    while (i < script.Length && script[i] != '\n')
                        i++;
                    EndCommand();
                    break;
                case '\n' or ';':
                    EndCommand();
                    break;
                case '&' or '|':
                    if (i > 0 && script[i - 1] == '>')
                    {
                        word.Append(c);
                        inWord = true;
                        break;
                    }
                    if (i + 1 < script.Length && script[i + 1] == c)
                        i++;
                    EndCommand();
                    break;
                case ' ' or '\t' or '\r':
                    EndWord();
                    break;
                default:
                    word.Append(c);
                    inWord = true;
                    break;
            }
        }
        EndCommand();
        return commands;
    }

    /// <summary>The words of one command (quotes removed).</summary>
    public static List<string> Words(string text) => Commands(text).SelectMany(c => c).ToList();
}
