using System.Reflection.Metadata;
using System.Reflection.PortableExecutable;
using MetaGpu.Tests.DevicePlugin;

namespace MetaGpu.Tests.Shipping;

/// <summary>
/// Native/Substitutions.xml replaces a few library methods in the published binary (docs/size.md). Each replacement
/// is safe only under an assumption about the product; these tests check the assumptions, and run the published
/// binary through the code paths whose library checks were replaced.
/// </summary>
public sealed class SubstitutionTests
{
    /// <summary>The product assembly and every non-framework assembly it references, as shipped in the test's folder.</summary>
    private static IEnumerable<string> ProductAssemblies()
    {
        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        var pending = new Queue<string>(["metagpu"]);
        while (pending.TryDequeue(out var name))
        {
            var path = Path.Combine(AppContext.BaseDirectory, name + ".dll");
            if (!seen.Add(name) || !File.Exists(path))
                continue; // framework assemblies are not copied beside the tests
            yield return path;
            using var pe = new PEReader(File.OpenRead(path));
            var md = pe.GetMetadataReader();
            foreach (var handle in md.AssemblyReferences)
                pending.Enqueue(md.GetString(md.GetAssemblyReference(handle).Name));
        }
    }

    private static bool ReferencesType(MetadataReader md, string ns, string name) =>
        md.TypeReferences.Any(h =>
        {
            var t = md.GetTypeReference(h);
            return md.GetString(t.Namespace) == ns && md.GetString(t.Name) == name;
        });

    private static bool ReferencesMember(MetadataReader md, string ns, string type, string member) =>
        md.MemberReferences.Any(h =>
        {
            var m = md.GetMemberReference(h);
            if (md.GetString(m.Name) != member || m.Parent.Kind != HandleKind.TypeReference)
                return false;
            var t = md.GetTypeReference((TypeReferenceHandle)m.Parent);
            return md.GetString(t.Namespace) == ns && md.GetString(t.Name) == type;
        });

    private static List<string> AssembliesWhere(Func<MetadataReader, bool> test)
    {
        var found = new List<string>();
        foreach (var path in ProductAssemblies())
        {
            using var pe = new PEReader(File.OpenRead(path));
            if (test(pe.GetMetadataReader()))
                found.Add(Path.GetFileNameWithoutExtension(path));
        }
        return found;
    }

    [Fact]
    public void TheProductsAssembliesAreFound()
    {
        var names = ProductAssemblies().Select(Path.GetFileNameWithoutExtension).ToList();
        Assert.Contains("metagpu", names);
        Assert.Contains("YamlDotNet", names);
        Assert.Contains("Google.Protobuf", names);
        Assert.Contains("Grpc.Core.Api", names);
    }

    /// <summary>
    /// The types (outermost) whose methods use a member that <paramref name="uses"/> picks, read from their IL: call,
    /// callvirt, newobj, ldsfld and stsfld operands. A rough decode that may misread an operand as an opcode, which
    /// can only find more uses, never fewer.
    /// </summary>
    private static SortedSet<string> TypesUsing(System.Reflection.Assembly assembly, Func<System.Reflection.MemberInfo, bool> uses)
    {
        const System.Reflection.BindingFlags All = System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.NonPublic |
            System.Reflection.BindingFlags.Instance | System.Reflection.BindingFlags.Static | System.Reflection.BindingFlags.DeclaredOnly;
        var found = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var type in assembly.GetTypes())
        {
            var methods = type.GetMethods(All).Cast<System.Reflection.MethodBase>().Concat(type.GetConstructors(All));
            foreach (var method in methods)
            {
                var il = method.GetMethodBody()?.GetILAsByteArray();
                if (il is null)
                    continue;
                for (var i = 0; i + 4 < il.Length; i++)
                {
                    if (il[i] is not (0x28 or 0x6f or 0x73 or 0x7e or 0x80))
                        continue;
                    System.Reflection.MemberInfo? member;
                    try { member = type.Module.ResolveMember(BitConverter.ToInt32(il, i + 1)); }
                    catch (ArgumentException) { continue; }
                    if (member is not null && uses(member))
                    {
                        var outer = type;
                        while (outer.DeclaringType is { } d)
                            outer = d;
                        found.Add(outer.FullName!);
                    }
                }
            }
        }
        return found;
    }

    private static SortedSet<string> TypesUsingRegex(System.Reflection.Assembly assembly) =>
        TypesUsing(assembly, m => m.DeclaringType?.Namespace == "System.Text.RegularExpressions");

    /// <summary>The generated code of the .proto files: messages, reflection classes, services and clients.</summary>
    private static bool IsGenerated(string type) =>
        type.StartsWith("MetaGpu.Proto.", StringComparison.Ordinal) || type.StartsWith("MetaGpu.Control.V1.", StringComparison.Ordinal);

    /// <summary>
    /// The generated services' BindService methods are removed from the binary: the product binds method by method
    /// and calls through its own descriptors, so no code of ours may call BindService or make a generated client.
    /// </summary>
    [Fact]
    public void TheProductNeverUsesTheGeneratedServiceBindingOrClients()
    {
        var product = typeof(MetaGpu.Rpc.Grpc.GrpcServer).Assembly;
        var binders = TypesUsing(product, m => m is System.Reflection.MethodBase { Name: "BindService" });
        Assert.DoesNotContain(binders, t => !IsGenerated(t));
        var clients = TypesUsing(product, m => m is System.Reflection.ConstructorInfo c && c.DeclaringType!.IsSubclassOf(typeof(Grpc.Core.ClientBase)));
        Assert.DoesNotContain(clients, t => !IsGenerated(t));
        // The check finds what it looks for: the tests' own stand-ins do both.
        Assert.Contains("MetaGpu.Tests.DevicePlugin.TestKubelet", TypesUsing(typeof(SubstitutionTests).Assembly,
            m => m is System.Reflection.MethodBase { Name: "MapGrpcService" } or System.Reflection.ConstructorInfo { DeclaringType.Name: "DevicePluginClient" }));
    }

    /// <summary>
    /// Regex's constructor and IsMatch are stubbed. YamlDotNet uses Regex only for checks its scanner has already
    /// made (and in its serializer and emitter, which the product does not use); Google.Protobuf only in its JSON
    /// parser, which the product never calls. Nothing else in the product may use Regex.
    /// </summary>
    [Fact]
    public void OnlyRegexUsesTheProductCannotReachOrThatCannotFail()
    {
        Assert.Equal(["Google.Protobuf", "YamlDotNet"], AssembliesWhere(md => ReferencesType(md, "System.Text.RegularExpressions", "Regex")));
        Assert.Equal(["Google.Protobuf.JsonParser"], TypesUsingRegex(typeof(Google.Protobuf.JsonParser).Assembly));
        Assert.Empty(AssembliesWhere(md => ReferencesType(md, "Google.Protobuf", "JsonParser")));
        var yaml = TypesUsingRegex(typeof(YamlDotNet.Core.Parser).Assembly);
        Assert.Contains("YamlDotNet.Core.AnchorName", yaml);
        Assert.Contains("YamlDotNet.Core.Tokens.TagDirective", yaml);
        Assert.All(yaml, t => Assert.True(
            t is "YamlDotNet.Core.AnchorName" or "YamlDotNet.Core.Tokens.TagDirective" or "YamlDotNet.Core.Emitter"
            || t.StartsWith("YamlDotNet.Serialization.", StringComparison.Ordinal), t));
        Assert.DoesNotContain("metagpu", AssembliesWhere(md => ReferencesType(md, "YamlDotNet.Core", "Emitter") || ReferencesType(md, "YamlDotNet.Serialization", "Serializer")
            || ReferencesType(md, "YamlDotNet.Serialization", "Deserializer")));
    }

    /// <summary>
    /// ConsoleAppFramework's BuildAndSetServiceProvider is stubbed to do nothing: it builds a dependency-injection
    /// container only after one of the builder's Configure… or PostConfigureServices methods, and nothing in the
    /// product may call them.
    /// </summary>
    [Fact]
    public void NothingConfiguresConsoleAppFrameworksServiceContainer()
    {
        var product = typeof(MetaGpu.Rpc.Grpc.GrpcServer).Assembly;
        static bool IsBuilder(System.Reflection.MemberInfo m) => m.DeclaringType?.FullName == "ConsoleAppFramework.ConsoleApp+ConsoleAppBuilder";
        var configures = TypesUsing(product, m => m is System.Reflection.MethodBase method && IsBuilder(method)
            && (method.Name.StartsWith("Configure", StringComparison.Ordinal) || method.Name == "PostConfigureServices"));
        Assert.Empty(configures);
        // The builder is found where it is used: Program adds its commands with it.
        Assert.Contains("MetaGpu.Program", TypesUsing(product, m => m is System.Reflection.MethodBase { Name: "Add" } method && IsBuilder(method)));
        // The hook the stub empties is the one the generator writes.
        Assert.NotNull(product.GetType("ConsoleAppFramework.ConsoleApp+ConsoleAppBuilder", throwOnError: true)!.GetMethod(
            "BuildAndSetServiceProvider", System.Reflection.BindingFlags.Instance | System.Reflection.BindingFlags.NonPublic));
    }

    /// <summary>
    /// ActivitySource.HasListeners is stubbed to false: nothing in the product (nor a library shipped with it) may
    /// register an ActivityListener.
    /// </summary>
    [Fact]
    public void NothingListensToActivities()
    {
        Assert.Empty(AssembliesWhere(md => ReferencesType(md, "System.Diagnostics", "ActivityListener")));
        // The check finds a listener where there is one: this test makes one.
        using var listener = new System.Diagnostics.ActivityListener();
        using var pe = new PEReader(File.OpenRead(typeof(SubstitutionTests).Assembly.Location));
        Assert.True(ReferencesType(pe.GetMetadataReader(), "System.Diagnostics", "ActivityListener"));
    }

    /// <summary>
    /// The binary is built with InvariantTimezone (no time-zone database: local time is UTC). That changes nothing
    /// only while the product never asks for local time; every time it prints or logs says UTC.
    /// </summary>
    [Fact]
    public void NothingInTheProductAsksForLocalTime()
    {
        var product = typeof(MetaGpu.Rpc.Grpc.GrpcServer).Assembly;
        static bool Local(System.Reflection.MemberInfo m) =>
            m.DeclaringType == typeof(TimeZoneInfo) && m.Name is "get_Local" or "ConvertTime" or "ConvertTimeFromUtc" or "FindSystemTimeZoneById" or "GetSystemTimeZones"
            || (m.DeclaringType == typeof(DateTime) || m.DeclaringType == typeof(DateTimeOffset)) && m.Name is "get_Now" or "get_Today" or "ToLocalTime" or "get_LocalDateTime";
        Assert.Empty(TypesUsing(product, Local));
        // The check finds a use where there is one: this test class asks for the time here.
        Assert.Contains(typeof(SubstitutionTests).FullName!, TypesUsing(typeof(SubstitutionTests).Assembly, Local));
        Assert.True(DateTime.Now.Kind == DateTimeKind.Local);
    }

    /// <summary>Uri.IsWellFormedUriString is stubbed to true: only YamlDotNet's tag check may call it.</summary>
    [Fact]
    public void OnlyYamlDotNetAsksWhetherAUriIsWellFormed() =>
        Assert.Equal(["YamlDotNet"], AssembliesWhere(md => ReferencesMember(md, "System", "Uri", "IsWellFormedUriString")));

    /// <summary>The descriptors are removed: parsing never needs them only while no message has required fields.</summary>
    [Fact]
    public void EveryProtoFileIsProto3()
    {
        var files = Directory.GetFiles(Path.Combine(PublishedBinary.RepositoryRoot, "Proto"), "*.proto", SearchOption.AllDirectories);
        Assert.Equal(4, files.Length);
        Assert.All(files, f => Assert.Contains("syntax = \"proto3\";", File.ReadAllText(f), StringComparison.Ordinal));
    }

    /// <summary>
    /// The published binary reads YAML that goes through YamlDotNet's anchor, tag-handle and verbatim-tag checks
    /// (the ones cut) exactly as the tests' build does: an alias repeats its anchor's value, %TAG directives and
    /// tags are accepted, and a broken file is still refused with its line.
    /// </summary>
    [Theory]
    [InlineData("anchors", "resources:\n  - name: cnvrg.io/metagpu\n    metaGpus: &m 40\n  - name: example.com/small\n    metaGpus: *m\n    gpus: [1]\n", "x40")]
    [InlineData("tags", "%TAG !e! tag:example.com,2000:\n---\nresources: !!seq\n  - !e!resource\n    name: !!str cnvrg.io/metagpu\n    metaGpus: !<tag:yaml.org,2002:int> 25\n", "x25")]
    public async Task ThePublishedBinaryReadsAnchorsAndTags(string name, string yaml, string expected)
    {
        var binary = await PublishedBinary.PathAsync();
        using var dir = new TempDirectory("mg-subst-" + name);
        var config = Path.Combine(dir.Path, "config.yaml");
        await File.WriteAllTextAsync(config, yaml);
        await using var daemon = PluginProcess.Start(binary,
            ["--simulate", "2", "--config", config, "--kubelet-dir", dir.Path, "--usage-interval", "0", "--mgctl-path", "off"]);
        await daemon.WaitForLogAsync("effective configuration", TimeSpan.FromSeconds(30));
        var line = daemon.Log.First(l => l.Contains("effective configuration", StringComparison.Ordinal));
        Assert.Contains(expected, line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ThePublishedBinaryStillRefusesABrokenFileWithItsLine()
    {
        var binary = await PublishedBinary.PathAsync();
        using var dir = new TempDirectory("mg-subst-broken");
        var config = Path.Combine(dir.Path, "config.yaml");
        await File.WriteAllTextAsync(config, "resources:\n  - name: a\n    metaGpus: *nowhere\n");
        await using var daemon = PluginProcess.Start(binary,
            ["--simulate", "2", "--config", config, "--kubelet-dir", dir.Path, "--usage-interval", "0", "--mgctl-path", "off"]);
        Assert.Equal(1, await daemon.WaitForExitAsync(TimeSpan.FromSeconds(30)));
        Assert.Contains("line 3", daemon.LogText, StringComparison.Ordinal);
        Assert.Contains("*nowhere", daemon.LogText, StringComparison.Ordinal);
    }

    private sealed class TempDirectory : IDisposable
    {
        public TempDirectory(string prefix) => Path = Directory.CreateTempSubdirectory(prefix).FullName;

        public string Path { get; }

        public void Dispose()
        {
            try { Directory.Delete(Path, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }
}
