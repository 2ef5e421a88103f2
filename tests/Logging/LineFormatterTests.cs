using System.Text.RegularExpressions;
using MetaGpu.Logging;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Logging.Console;

namespace MetaGpu.Tests.Logging;

/// <summary>
/// Our text and systemd formatters write the same lines as Microsoft.Extensions.Logging.Console's own simple and
/// systemd formatters with the options the product used before it built its loggers without the DI container.
/// </summary>
public sealed partial class LineFormatterTests
{
    public static TheoryData<LogLevel, int, string, bool> Events() => new()
    {
        { LogLevel.Trace, 0, "trace line", false },
        { LogLevel.Debug, 7, "debug line", false },
        { LogLevel.Information, 0, "metagpu 0.1.0: 2 GPU(s) through simulated", false },
        { LogLevel.Warning, 42, "two\nlines", false },
        { LogLevel.Error, 0, "failed", true },
        { LogLevel.Critical, 1, "", true },
        { LogLevel.Information, 0, "", false },
    };

    /// <summary>The library's formatter of that name, as the DI container builds it with our former options.</summary>
    private static ConsoleFormatter LibraryFormatter(string name)
    {
        var services = new ServiceCollection();
        services.AddLogging(b =>
        {
            b.AddSimpleConsole(o =>
            {
                o.SingleLine = true;
                o.UseUtcTimestamp = true;
                o.TimestampFormat = TextLineFormatter.TimestampFormat;
                o.ColorBehavior = LoggerColorBehavior.Disabled;
            });
            b.AddSystemdConsole(o => o.TimestampFormat = null);
        });
        using var provider = services.BuildServiceProvider();
        return provider.GetServices<ConsoleFormatter>().Single(f => f.Name == name);
    }

    private static string Write(ConsoleFormatter formatter, LogLevel level, int eventId, string message, bool withException)
    {
        Exception? exception = null;
        if (withException)
        {
            try
            {
                throw new InvalidOperationException("it broke\non two lines");
            }
            catch (InvalidOperationException e)
            {
                exception = e;
            }
        }
        var entry = new LogEntry<string>(level, "metagpu.kubelet", new EventId(eventId), message, exception, (s, _) => s);
        using var writer = new StringWriter();
        formatter.Write(in entry, null, writer);
        return writer.ToString();
    }

    [GeneratedRegex(@"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z ")]
    private static partial Regex Timestamp();

    [Theory]
    [MemberData(nameof(Events))]
    public void TextLinesAreTheSimpleFormattersSingleLines(LogLevel level, int eventId, string message, bool withException)
    {
        var ours = Write(new TextLineFormatter(), level, eventId, message, withException);
        var theirs = Write(LibraryFormatter(ConsoleFormatterNames.Simple), level, eventId, message, withException);
        Assert.Matches(Timestamp(), ours);
        Assert.Matches(Timestamp(), theirs);
        Assert.Equal(Timestamp().Replace(theirs, ""), Timestamp().Replace(ours, ""));
        Assert.EndsWith("\n", ours, StringComparison.Ordinal);
        Assert.Single(ours.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    [Theory]
    [MemberData(nameof(Events))]
    public void SystemdLinesAreTheSystemdFormattersLines(LogLevel level, int eventId, string message, bool withException)
    {
        var ours = Write(new SystemdLineFormatter(), level, eventId, message, withException);
        var theirs = Write(LibraryFormatter(ConsoleFormatterNames.Systemd), level, eventId, message, withException);
        Assert.Equal(theirs, ours);
        Assert.StartsWith("<", ours, StringComparison.Ordinal);
    }

    [Fact]
    public void TheTimestampIsUtc()
    {
        var line = Write(new TextLineFormatter(), LogLevel.Information, 0, "x", false);
        var stamp = DateTimeOffset.ParseExact(line[..24], "yyyy-MM-ddTHH:mm:ss.fffZ", System.Globalization.CultureInfo.InvariantCulture,
            System.Globalization.DateTimeStyles.AssumeUniversal);
        Assert.InRange(DateTimeOffset.UtcNow - stamp, TimeSpan.FromSeconds(-1), TimeSpan.FromSeconds(30));
    }

    [Fact]
    public void TheFactoryHonoursTheMinimumLevel()
    {
        using var factory = ConsoleLogs.Create(LogFormat.Text, LogLevel.Warning);
        var log = factory.CreateLogger("metagpu");
        Assert.False(log.IsEnabled(LogLevel.Information));
        Assert.True(log.IsEnabled(LogLevel.Warning));
        using var debug = ConsoleLogs.Create(LogFormat.Json, LogLevel.Debug);
        Assert.True(debug.CreateLogger("metagpu").IsEnabled(LogLevel.Debug));
    }
}
