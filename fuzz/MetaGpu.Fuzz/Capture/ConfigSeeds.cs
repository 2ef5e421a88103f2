using System.Text;

namespace MetaGpu.Fuzz.Capture;

/// <summary>The config corpus: the sample configs the repo ships (static.yaml's ConfigMap, the docs' YAML examples).</summary>
internal static class ConfigSeeds
{
    public static void Write(string directory)
    {
        var root = FindRepoRoot();
        Directory.CreateDirectory(directory);
        var n = 0;
        foreach (var (source, text) in Samples(root))
            File.WriteAllText(Path.Combine(directory, $"{source}-{++n:d2}.yaml"), text);
    }

    private static IEnumerable<(string Source, string Text)> Samples(string root)
    {
        // static.yaml: the ConfigMap's config.yaml, a block scalar indented under `config.yaml: |`.
        var manifest = File.ReadAllLines(Path.Combine(root, "static.yaml"));
        for (var i = 0; i < manifest.Length; i++)
        {
            var key = manifest[i].IndexOf("config.yaml: |", StringComparison.Ordinal);
            if (key < 0)
                continue;
            var block = new StringBuilder();
            var indent = -1;
            for (var j = i + 1; j < manifest.Length; j++)
            {
                var line = manifest[j];
                if (line.Trim().Length == 0)
                {
                    block.AppendLine();
                    continue;
                }
                var lead = line.Length - line.TrimStart().Length;
                if (indent < 0)
                    indent = lead;
                if (lead < indent)
                    break;
                block.AppendLine(line[indent..]);
            }
            yield return ("static", block.ToString());
            // The same with every commented-out key switched on: the full documented form.
            yield return ("static-uncommented", string.Join('\n', block.ToString().Split('\n').Select(Uncomment)));
        }

        foreach (var doc in Directory.EnumerateFiles(Path.Combine(root, "docs"), "*.md").Append(Path.Combine(root, "README.md")).Order(StringComparer.Ordinal))
        {
            var lines = File.ReadAllLines(doc);
            StringBuilder? fence = null;
            foreach (var line in lines)
            {
                if (fence is null && line.TrimStart().StartsWith("```yaml", StringComparison.Ordinal))
                {
                    fence = new StringBuilder();
                }
                else if (fence is not null && line.TrimStart().StartsWith("```", StringComparison.Ordinal))
                {
                    // Kubernetes manifests in the docs are not sharing configs; keep the config examples.
                    var text = fence.ToString();
                    if (!text.Contains("apiVersion:", StringComparison.Ordinal))
                        yield return (Path.GetFileNameWithoutExtension(doc), text);
                    fence = null;
                }
                else
                {
                    fence?.AppendLine(line);
                }
            }
        }
    }

    /// <summary><c>    # allocation:</c> → <c>    allocation:</c>; a comment after a value stays.</summary>
    private static string Uncomment(string line)
    {
        var trimmed = line.TrimStart();
        if (!trimmed.StartsWith("# ", StringComparison.Ordinal) || !trimmed.Contains(':', StringComparison.Ordinal))
            return line;
        var lead = line.Length - trimmed.Length;
        var body = trimmed[2..];
        return body.Length > 0 && body[0] != ' ' && !body.Contains(". ", StringComparison.Ordinal) && char.IsAsciiLetterLower(body.TrimStart('-', ' ')[0])
            ? new string(' ', lead) + body
            : line;
    }

    private static string FindRepoRoot()
    {
        for (var dir = new DirectoryInfo(Directory.GetCurrentDirectory()); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "MetaGpu.csproj")))
                return dir.FullName;
        }
        throw new DirectoryNotFoundException("run capture from inside the repository (MetaGpu.csproj not found above the current directory)");
    }
}
