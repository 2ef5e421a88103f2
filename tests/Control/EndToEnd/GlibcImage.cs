using MetaGpu.Proto.DevicePlugin.V1Beta1;

namespace MetaGpu.Tests.Control.EndToEnd;

/// <summary>
/// The container harness's rootfs holds only a static program; the images people run have glibc. This adds the
/// node's glibc (its library directory and the loader's directory, read-only, at the same paths) to what Allocate
/// answered, so that the mgctl Allocate mounted can run as it does in a CUDA image. Nothing else of the node goes in.
/// </summary>
public static class GlibcImage
{
    private static readonly string[] Directories = ["/lib/x86_64-linux-gnu", "/lib64"];

    public static ContainerAllocateResponse With(ContainerAllocateResponse allocation)
    {
        var copy = allocation.Clone();
        foreach (var dir in Directories)
        {
            var real = new DirectoryInfo(dir).ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? dir;
            copy.Mounts.Add(new Mount { ContainerPath = dir, HostPath = real, ReadOnly = true });
        }
        return copy;
    }
}
