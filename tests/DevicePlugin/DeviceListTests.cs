using MetaGpu.DevicePlugin;

namespace MetaGpu.Tests.DevicePlugin;

/// <summary>The ListAndWatch size the plan is checked against is the size of the message ListAndWatch sends.</summary>
public sealed class DeviceListTests
{
    [Fact]
    public void TheSizeWithoutBuildingIsTheBuiltMessagesSize()
    {
        var random = new Random(5);
        for (var trial = 0; trial < 200; trial++)
        {
            var gpus = new List<PlannedGpu>();
            var count = random.Next(0, 9);
            for (var g = 0; g < count; g++)
            {
                var uuid = "GPU-" + Guid.NewGuid().ToString()[..random.Next(1, 36)];
                var metaGpus = random.Next(4) switch { 0 => random.Next(1, 11), 1 => random.Next(1, 101), 2 => random.Next(95, 1500), _ => 100 };
                int? numa = random.Next(4) switch { 0 => null, 1 => 0, 2 => 1, _ => random.Next(2, 300) };
                gpus.Add(new PlannedGpu(uuid, random.Next(0, 130), metaGpus, numa, 40UL << 30));
            }
            var plan = new ResourcePlan("cnvrg.io/metagpu", gpus);
            foreach (var health in new[] { DeviceList.Healthy, DeviceList.Unhealthy })
            {
                var built = DeviceList.Build(plan, _ => health == DeviceList.Healthy).CalculateSize();
                Assert.Equal(built, DeviceList.Size(plan, health));
            }
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(10)]
    [InlineData(11)]
    [InlineData(100)]
    [InlineData(101)]
    [InlineData(1000)]
    public void EveryDigitCountOfTheSharesIsCounted(int metaGpus)
    {
        var plan = new ResourcePlan("cnvrg.io/metagpu", [new PlannedGpu("GPU-0b8974e6-5a2b-4a57-a4d5-b6c1d1a1b2c3", 7, metaGpus, 1, 40UL << 30)]);
        Assert.Equal(DeviceList.Build(plan, _ => false).CalculateSize(), DeviceList.Size(plan, DeviceList.Unhealthy));
    }
}
