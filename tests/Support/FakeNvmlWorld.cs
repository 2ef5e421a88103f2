namespace MetaGpu.Tests.Support;

/// <summary>
/// The fake NVML's world file (its FAKE_NVML_CONFIG) for the end-to-end tests: 16 GiB GPUs and the given GPU
/// processes, each GPU's used memory their sum. Written beside and renamed over, so the fake never reads half a file.
/// </summary>
public static class FakeNvmlWorld
{
    private const ulong GiB = 1UL << 30;

    public static void Write(string path, IReadOnlyList<string> uuids, params (int Pid, int Gpu, ulong Memory)[] processes)
    {
        var lines = new List<string> { "driver 550.54.15", "cuda 12040" };
        for (var i = 0; i < uuids.Count; i++)
        {
            lines.Add($"gpu index={i} uuid={uuids[i]} name=\"NVIDIA Fake\" mem_total={16 * GiB} mem_used={processes.Where(p => p.Gpu == i).Aggregate(0UL, (s, p) => s + p.Memory)} " +
                $"pci=00000000:{0x10 + i:x2}:00.0 minor={i} events=0xb");
        }
        foreach (var (pid, gpu, memory) in processes)
            lines.Add($"process gpu={gpu} pid={pid} mem={memory} kind=compute");
        File.WriteAllText(path + ".new", string.Join('\n', lines) + "\n");
        File.Move(path + ".new", path, overwrite: true);
    }
}
