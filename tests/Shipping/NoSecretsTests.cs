using System.Text.RegularExpressions;

namespace MetaGpu.Tests.Shipping;

/// <summary>
/// No credential ships in the manifest or the image recipe: MetaGPU needs none (it talks only to the kubelet, through a
/// Unix socket), and the original MetaGPU's shared tokens (jwtSecret, deviceToken, containerToken) are gone.
/// </summary>
public sealed partial class NoSecretsTests
{
    public static TheoryData<string> Files => ["static.yaml", "Dockerfile", ".dockerignore"];

    [Theory]
    [MemberData(nameof(Files))]
    public void HoldsNoSecretTokenOrPassword(string file)
    {
        var text = ShippingFiles.Read(file);
        Assert.Empty(Findings(text));
    }

    [Fact]
    public void TheManifestDefinesNoSecretObject()
    {
        Assert.DoesNotMatch(@"(?m)^\s*kind:\s*[""']?Secret\b", ShippingFiles.Read("static.yaml"));
        Assert.DoesNotContain(ShippingFiles.LoadManifest().Objects, o => o is k8s.Models.V1Secret);
    }

    [Fact]
    public void TheDockerfileSetsNoCredentialVariable()
    {
        foreach (var stage in ShippingFiles.LoadDockerfile())
        {
            var names = stage.Env().Keys
                .Concat(stage.All("ARG").Select(a => a.Arguments.Split('=')[0].Trim()))
                .Concat(stage.Labels().Keys);
            Assert.All(names, n => Assert.DoesNotMatch(SecretWord(), n));
        }
    }

    /// <summary>The detector finds what it should, and not the manifest's <c>automountServiceAccountToken: false</c>.</summary>
    [Theory]
    [InlineData("password: hunter2", true)]
    [InlineData("  jwtSecret: \"s3cr3t-value\"", true)]
    [InlineData("    - deviceToken: abc123", true)]
    [InlineData("ENV API_TOKEN=abc123", true)]
    [InlineData("#   dbPassword: changeme", true)]
    [InlineData("      value: eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig", true)]
    [InlineData("-----BEGIN RSA PRIVATE KEY-----", true)]
    [InlineData("      automountServiceAccountToken: false", false)]
    [InlineData("# MetaGPU never calls the API server, so no service-account token is mounted.", false)]
    [InlineData("    pod-security.kubernetes.io/enforce: privileged", false)]
    public void TheDetectorWorks(string line, bool isFinding) =>
        Assert.Equal(isFinding, Findings(line).Count > 0);

    private static List<string> Findings(string text)
    {
        var findings = new List<string>();
        var lines = text.Split('\n');
        for (var i = 0; i < lines.Length; i++)
        {
            var line = lines[i];
            if (Jwt().IsMatch(line) || line.Contains("-----BEGIN", StringComparison.Ordinal))
                findings.Add($"line {i + 1}: {line.Trim()}");
            foreach (Match m in KeyValue().Matches(line))
            {
                if (m.Groups["value"].Value.Trim('"', '\'') is not ("true" or "false"))
                    findings.Add($"line {i + 1}: {m.Groups["key"].Value} is set");
            }
        }
        return findings;
    }

    /// <summary>A JSON Web Token (or any base64url JSON object): "eyJ" is the encoding of <c>{"</c>.</summary>
    [GeneratedRegex(@"eyJ[A-Za-z0-9_-]{8,}")]
    private static partial Regex Jwt();

    /// <summary><c>…token: value</c>, <c>…password=value</c> and so on, as a YAML key (commented out or not) or an ENV/ARG assignment.</summary>
    [GeneratedRegex(@"(?i)(^|[\s#\-{,])[""']?(?<key>[A-Za-z0-9_.\-]*(token|password|passwd|secret|api[_-]?key)[A-Za-z0-9_.\-]*)[""']?\s*[:=]\s*(?<value>[^\s#]+)")]
    private static partial Regex KeyValue();

    [GeneratedRegex(@"(?i)token|password|passwd|secret|api[_-]?key")]
    private static partial Regex SecretWord();
}
