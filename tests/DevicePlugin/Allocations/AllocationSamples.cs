using MetaGpu.DevicePlugin;
using MetaGpu.DevicePlugin.Allocations;

namespace MetaGpu.Tests.DevicePlugin.Allocations;

/// <summary>A two-GPU allocation whose file is spelled out in full in the tests (and in docs/usage.md).</summary>
public static class AllocationSamples
{
    public const string Resource = "cnvrg.io/metagpu";
    public const string Uuid0 = "GPU-5f7a1c2e-0b1d-4c3e-9a8f-1b2c3d4e5f60";
    public const string Uuid1 = "GPU-8e9d0c1b-2a3f-4e5d-8c7b-6a5f4e3d2c1b";

    /// <summary>printf 'cnvrg.io/metagpu\ncnvrg-meta-0-0-…\ncnvrg-meta-0-1-…\ncnvrg-meta-1-3-…' | sha256sum | cut -c1-40</summary>
    public const string Key = "e5bb0b334a3bacb1c7971914bd171d22f9e5f931";

    /// <summary>In an order the kubelet might send: the record sorts them.</summary>
    public static readonly string[] Ids = [$"cnvrg-meta-1-3-{Uuid1}", $"cnvrg-meta-0-1-{Uuid0}", $"cnvrg-meta-0-0-{Uuid0}"];

    /// <summary>Two 16 GiB GPUs in 4 meta-devices each: half of GPU 0 and a quarter of GPU 1.</summary>
    public static AllocationRecord Record()
    {
        var gpu0 = new PlannedGpu(Uuid0, 0, 4, 0, 16UL << 30);
        var gpu1 = new PlannedGpu(Uuid1, 1, 4, 0, 16UL << 30);
        var shape = new AllocationShape([new GpuShare(gpu0, 2), new GpuShare(gpu1, 1)], 3, 1, true);
        return AllocationRecord.Create(Resource, Ids, shape);
    }

    public const string Json = """
        {
          "schemaVersion": 1,
          "resource": "cnvrg.io/metagpu",
          "key": "e5bb0b334a3bacb1c7971914bd171d22f9e5f931",
          "request": 3,
          "memoryLimitMiB": 12288,
          "gpus": [
            {
              "uuid": "GPU-5f7a1c2e-0b1d-4c3e-9a8f-1b2c3d4e5f60",
              "index": 0,
              "metaDevices": 2,
              "metaGpus": 4,
              "share": 0.5,
              "memoryLimitMiB": 8192
            },
            {
              "uuid": "GPU-8e9d0c1b-2a3f-4e5d-8c7b-6a5f4e3d2c1b",
              "index": 1,
              "metaDevices": 1,
              "metaGpus": 4,
              "share": 0.25,
              "memoryLimitMiB": 4096
            }
          ],
          "deviceIds": [
            "cnvrg-meta-0-0-GPU-5f7a1c2e-0b1d-4c3e-9a8f-1b2c3d4e5f60",
            "cnvrg-meta-0-1-GPU-5f7a1c2e-0b1d-4c3e-9a8f-1b2c3d4e5f60",
            "cnvrg-meta-1-3-GPU-8e9d0c1b-2a3f-4e5d-8c7b-6a5f4e3d2c1b"
          ]
        }

        """;
}
