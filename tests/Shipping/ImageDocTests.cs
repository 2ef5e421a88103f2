using System.Globalization;
using System.Text.RegularExpressions;
using MetaGpu.Tests.DevicePlugin;

namespace MetaGpu.Tests.Shipping;

/// <summary>docs/image.md describes the image the Dockerfile builds, with a binary size that is still about right.</summary>
public sealed partial class ImageDocTests
{
    private readonly string _doc = ShippingFiles.Read("docs/image.md");

    [Fact]
    public void NamesTheRunStageBaseImage() =>
        Assert.Contains($"`{ShippingFiles.LoadDockerfile()[^1].BaseImage}`", _doc, StringComparison.Ordinal);

    [Fact]
    public async Task TheDocumentedBinarySizeIsWithinAFifthOfThePublishedBinary()
    {
        var documented = long.Parse(UncompressedBinary().Match(_doc).Groups[1].Value.Replace(",", "", StringComparison.Ordinal), CultureInfo.InvariantCulture);
        var actual = new FileInfo(await PublishedBinary.PathAsync()).Length;
        Assert.True(Math.Abs(actual - documented) <= actual / 5,
            $"docs/image.md says the binary is {documented:N0} bytes; it is now {actual:N0}: update the size table");
    }

    [GeneratedRegex(@"binary, `/usr/local/bin/metagpu`, uncompressed \| ([\d,]+) bytes")]
    private static partial Regex UncompressedBinary();
}
