using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using MetaGpu.Nvml;
using MetaGpu.Nvml.Native;

namespace MetaGpu.Tests.Nvml;

/// <summary>The struct layouts against nvml.h's, and the pure conversions, without any library.</summary>
public sealed class NvmlBindingTests
{
    [Fact]
    public void StructsAreLaidOutAsNvmlHDefinesThem()
    {
        Assert.Equal(24, Unsafe.SizeOf<NvmlMemory>());
        Assert.Equal(8, Unsafe.SizeOf<NvmlUtilization>());

        Assert.Equal(68, Unsafe.SizeOf<NvmlPciInfo>());
        Assert.Equal(16, (int)Marshal.OffsetOf<NvmlPciInfo>(nameof(NvmlPciInfo.Domain)));
        Assert.Equal(32, (int)Marshal.OffsetOf<NvmlPciInfo>(nameof(NvmlPciInfo.PciSubSystemId)));
        Assert.Equal(36, (int)Marshal.OffsetOf<NvmlPciInfo>(nameof(NvmlPciInfo.BusId)));

        Assert.Equal(24, Unsafe.SizeOf<NvmlProcessInfo>());
        Assert.Equal(8, (int)Marshal.OffsetOf<NvmlProcessInfo>(nameof(NvmlProcessInfo.UsedGpuMemory)));
        Assert.Equal(16, (int)Marshal.OffsetOf<NvmlProcessInfo>(nameof(NvmlProcessInfo.GpuInstanceId)));

        Assert.Equal(32, Unsafe.SizeOf<NvmlProcessUtilizationSample>());
        Assert.Equal(8, (int)Marshal.OffsetOf<NvmlProcessUtilizationSample>(nameof(NvmlProcessUtilizationSample.TimeStamp)));
        Assert.Equal(28, (int)Marshal.OffsetOf<NvmlProcessUtilizationSample>(nameof(NvmlProcessUtilizationSample.DecUtil)));

        Assert.Equal(32, Unsafe.SizeOf<NvmlEventData>());
        Assert.Equal(16, (int)Marshal.OffsetOf<NvmlEventData>(nameof(NvmlEventData.EventData)));
        Assert.Equal(28, (int)Marshal.OffsetOf<NvmlEventData>(nameof(NvmlEventData.ComputeInstanceId)));
    }

    [Theory]
    [InlineData("00000000:07:00.0", "0000:07:00.0")]
    [InlineData("00000000:0F:00.0", "0000:0f:00.0")]
    [InlineData("00000001:8A:1F.0", "0001:8a:1f.0")]
    [InlineData("0000:b3:00.0", "0000:b3:00.0")]
    [InlineData("00010000:01:00.0", "10000:01:00.0")]
    [InlineData("", null)]
    [InlineData("garbage", null)]
    [InlineData("zz:01:00.0", null)]
    [InlineData("0000:01:00.0/../../x", null)]
    public void NvmlBusIdsBecomeSysfsAddresses(string nvml, string? sysfs) => Assert.Equal(sysfs, PciSysfs.ToSysfsAddress(nvml));

    [Fact]
    public void NumaNodeFromSysfs()
    {
        var root = Path.Combine(Path.GetTempPath(), "metagpu-sysfs-" + Guid.NewGuid().ToString("N")[..8]);
        try
        {
            void Node(string address, string text)
            {
                Directory.CreateDirectory(Path.Combine(root, "bus/pci/devices", address));
                File.WriteAllText(Path.Combine(root, "bus/pci/devices", address, "numa_node"), text);
            }
            Node("0000:07:00.0", "3\n");
            Node("0000:08:00.0", "-1\n");
            Node("0000:09:00.0", "what\n");
            Assert.Equal(3, PciSysfs.ReadNumaNode(root, "00000000:07:00.0"));
            Assert.Null(PciSysfs.ReadNumaNode(root, "00000000:08:00.0"));
            Assert.Null(PciSysfs.ReadNumaNode(root, "00000000:09:00.0"));
            Assert.Null(PciSysfs.ReadNumaNode(root, "00000000:0A:00.0"));
            Assert.Null(PciSysfs.ReadNumaNode(Path.Combine(root, "none"), "00000000:07:00.0"));
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    [Fact]
    public void NvmlValuesInTheModelsTerms()
    {
        Assert.Equal(["Default", "ExclusiveThread", "Prohibited", "ExclusiveProcess", "Unknown"], Enumerable.Range(0, 5).Select(NvmlValues.ComputeModeName));
        Assert.Null(NvmlValues.ProcessMemory(ulong.MaxValue));
        Assert.Equal(80UL << 30, NvmlValues.ProcessMemory(80UL << 30));
        Assert.Equal(GpuEventKind.Xid, NvmlValues.EventKind(0x8));
        Assert.Equal(GpuEventKind.Xid, NvmlValues.EventKind(0xA));
        Assert.Equal(GpuEventKind.DoubleBitEcc, NvmlValues.EventKind(0x2));
        Assert.Equal(GpuEventKind.SingleBitEcc, NvmlValues.EventKind(0x1));
        Assert.Null(NvmlValues.EventKind(0x4));
        Assert.Equal("abc", NvmlText.Decode("abc\0def"u8));
        Assert.Equal("für", NvmlText.Decode("für"u8));
        Assert.Equal("x\0"u8.ToArray(), NvmlText.EncodeNulTerminated("x"));
    }
}
