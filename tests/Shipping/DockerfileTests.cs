using System.Text.RegularExpressions;

namespace MetaGpu.Tests.Shipping;

/// <summary>The Dockerfile: built the way CI builds, run on a chiseled image, the binary where the entrypoint says.</summary>
public sealed class DockerfileTests
{
    private readonly DockerStage[] _stages = ShippingFiles.LoadDockerfile();

    private DockerStage Build => _stages[0];

    private DockerStage Run => _stages[^1];

    private IReadOnlyList<string> PublishCommand =>
        Assert.Single(Build.All("RUN").SelectMany(r => Shell.Commands(r.Arguments)).Where(ShippingFiles.IsDotnetPublish).ToList());

    [Fact]
    public void HasABuildStageOnTheDotnet10SdkAndARunStage()
    {
        Assert.Equal(2, _stages.Length);
        Assert.Matches(@"^mcr\.microsoft\.com/dotnet/sdk:10\.0(-[a-z0-9.]+)*(@sha256:[0-9a-f]{64})?$", Build.BaseImage);
        Assert.NotNull(Build.Name);
    }

    [Fact]
    public void TheBuildStageInstallsTheNativeToolchain()
    {
        var installs = Build.All("RUN").SelectMany(r => Shell.Commands(r.Arguments))
            .Where(c => c.Count > 2 && c[0] == "apt-get" && c[1] == "install").SelectMany(c => c).ToList();
        Assert.True(installs.Contains("clang") || installs.Contains("gcc"), "native AOT needs clang or gcc to link");
        Assert.Contains("zlib1g-dev", installs);
    }

    [Fact]
    public void TheBuildStagePublishesExactlyAsCiDoes()
    {
        var docker = PublishCommand;
        var ci = ShippingFiles.CiPublishCommand();
        Assert.Equal(WithoutOutput(ci), WithoutOutput(docker));
        Assert.Equal(["-c", "Release", "-r", "linux-x64"], WithoutOutput(docker).Skip(3).Take(4));
        Assert.StartsWith("/", Manifest.ValueOf(docker.ToList(), "-o"));
    }

    /// <summary>The words with the <c>-o DIR</c> pair taken out (the only part allowed to differ).</summary>
    private static List<string> WithoutOutput(IReadOnlyList<string> words)
    {
        var list = words.ToList();
        var at = list.FindIndex(w => w is "-o" or "--output");
        Assert.True(at >= 0, $"no -o in: {string.Join(' ', words)}");
        list.RemoveRange(at, 2);
        Assert.DoesNotContain(list, w => w is "-o" or "--output");
        return list;
    }

    [Fact]
    public void TheRunStageIsAChiseledRuntimeDepsImage()
    {
        Assert.Matches(@"^mcr\.microsoft\.com/dotnet/runtime-deps:10\.0-[a-z]+-chiseled(@sha256:[0-9a-f]{64})?$", Run.BaseImage);
        // Distroless: there is no shell to run anything with.
        Assert.Empty(Run.All("RUN"));
    }

    [Fact]
    public void TheRunStageCopiesOnlyThePublishedBinaryToTheEntrypoint()
    {
        var copy = Assert.Single(Run.Instructions, i => i.Keyword is "COPY" or "ADD");
        Assert.Equal("COPY", copy.Keyword);
        var words = Shell.Words(copy.Arguments);
        Assert.Contains($"--from={Build.Name}", words);
        var paths = words.Where(w => !w.StartsWith("--", StringComparison.Ordinal)).ToList();
        Assert.Equal(2, paths.Count);
        var output = Manifest.ValueOf(PublishCommand.ToList(), "-o");
        Assert.Equal($"{output.TrimEnd('/')}/metagpu", paths[0]);

        var entrypoint = Run.ExecForm("ENTRYPOINT");
        Assert.Single(entrypoint);
        Assert.Equal(paths[1].EndsWith('/') ? paths[1] + "metagpu" : paths[1], entrypoint[0]);
        Assert.Equal("/usr/local/bin/metagpu", entrypoint[0]);
        Assert.Equal(["start"], Run.ExecForm("CMD"));
    }

    [Fact]
    public void TheRunStageAsksTheNvidiaRuntimeForNvmlOnEveryGpu()
    {
        var env = Run.Env();
        Assert.Equal("all", env["NVIDIA_VISIBLE_DEVICES"]);
        Assert.Equal("utility", env["NVIDIA_DRIVER_CAPABILITIES"]);
    }

    [Fact]
    public void TheImageKeepsANonRootDefaultUser()
    {
        // The manifest runs it as UID 0 with every capability dropped (see the Dockerfile's comment); by hand it runs unprivileged.
        var user = Assert.Single(Run.All("USER")).Arguments;
        Assert.DoesNotMatch(@"^(0|root)(:.*)?$", user);
    }

    [Fact]
    public void TheImageIsLabelledWithTheProductVersion()
    {
        var labels = Run.Labels();
        Assert.Equal("metagpu", labels["org.opencontainers.image.title"]);
        Assert.False(string.IsNullOrWhiteSpace(labels["org.opencontainers.image.description"]));
        Assert.Equal(ShippingFiles.ProductVersion, labels["org.opencontainers.image.version"]);
        Assert.Equal(Run.BaseImage, labels["org.opencontainers.image.base.name"]);
    }

    [Fact]
    public void TheBuildContextLeavesOutBuildOutputAndTheTests()
    {
        var ignored = ShippingFiles.Read(".dockerignore").Split('\n').Select(l => l.Trim()).Where(l => l.Length > 0 && !l.StartsWith('#')).ToList();
        foreach (var pattern in new[] { "**/bin/", "**/obj/", "tests/", ".git" })
            Assert.Contains(pattern, ignored);
        // ...but not what the build needs.
        foreach (var needed in new[] { "MetaGpu.csproj", "Directory.Build.props", "Program.cs", "Proto" })
            Assert.DoesNotContain(ignored, p => Regex.IsMatch(needed, "^" + Regex.Escape(p.TrimEnd('/')).Replace(@"\*", ".*") + "$"));
    }
}
