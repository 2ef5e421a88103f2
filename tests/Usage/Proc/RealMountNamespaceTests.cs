using System.Diagnostics;
using MetaGpu.Tests.Support;
using MetaGpu.Usage.Proc;

namespace MetaGpu.Tests.Usage.Proc;

/// <summary>
/// ProcFs against mount tables the kernel writes: a process in a mount namespace of its own gets a read-only bind
/// mount of an allocation file from a state directory of this machine (as the kubelet gives a container), then
/// drops to an unprivileged user, makes a user namespace and mounts a look-alike over a second path from a tmpfs
/// of its own, with the same root path and another key. The daemon's side is this process's own /proc/self.
/// Needs root (to make the first mount), as .ci/run runs.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class RealMountNamespaceTests : IDisposable
{
    private const string RealKey = "76a67dde34f405ceb9892c4021392e67b9da3345";
    private const string OtherKey = "2403d609799738a49218119e7de2b1d9aa94bde7";
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("metagpu-mountns-");

    public void Dispose() => _dir.Delete(recursive: true);

    [Fact]
    public async Task TheKernelsTableNamesTheRealAllocationAndNotTheLookAlike()
    {
        Assert.True(Environment.UserName == "root", "this test makes mounts in a namespace of its own: run it as root (.ci/run does)");
        var unshare = HostTools.Require("unshare", "util-linux");
        var setpriv = HostTools.Require("setpriv", "util-linux");

        // The nobody user must reach the mount points; the temp folder is private to root.
        File.SetUnixFileMode(_dir.FullName, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute | UnixFileMode.GroupRead | UnixFileMode.GroupExecute);
        var state = Path.Join(_dir.FullName, "state");
        Directory.CreateDirectory(Path.Join(state, "allocations"));
        File.WriteAllText(Path.Join(state, "allocations", RealKey + ".json"), "{}");
        var container = Directory.CreateDirectory(Path.Join(_dir.FullName, "container")).FullName;
        File.WriteAllText(Path.Join(container, "allocation.json"), "");
        File.WriteAllText(Path.Join(container, "forged.json"), "");
        var forge = Directory.CreateDirectory(Path.Join(_dir.FullName, "forge")).FullName;

        var procFs = new ProcFs("/proc");
        var own = procFs.LocateOwnStateDir(state);
        Assert.NotNull(own);

        var inner = $"""
            mount -t tmpfs tmpfs '{forge}' &&
            mkdir -p '{forge}{state}/allocations' &&
            echo forged > '{forge}{state}/allocations/{OtherKey}.json' &&
            mount --bind '{forge}{state}/allocations/{OtherKey}.json' '{container}/forged.json' &&
            echo ready && exec sleep 120
            """;
        var outer = $"""
            mount --bind -o ro '{state}/allocations/{RealKey}.json' '{container}/allocation.json' &&
            exec '{setpriv}' --reuid 65534 --regid 65534 --clear-groups '{unshare}' --user --map-root-user --mount sh -c "$INNER"
            """;
        var psi = new ProcessStartInfo(unshare, ["--mount", "--propagation", "private", "sh", "-c", outer])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        psi.Environment["INNER"] = inner;
        using var process = Process.Start(psi)!;
        try
        {
            var ready = await process.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(60));
            if (ready != "ready")
                Assert.Fail($"the namespaces were not set up: {ready} {await process.StandardError.ReadToEndAsync().WaitAsync(TimeSpan.FromSeconds(30))}");

            // unshare, setpriv and sh exec one another: the process started is the one holding the mounts. "ready" is
            // written just before the last exec, so wait for it (read during the exec, the command line is empty: the
            // test failed once so in a clean-clone CI run).
            var deadline = DateTime.UtcNow.AddSeconds(30);
            while (File.ReadAllText($"/proc/{process.Id}/cmdline") != "sleep\0120\0" && DateTime.UtcNow < deadline)
                await Task.Delay(10);
            var identity = procFs.ReadIdentity(process.Id, own);

            Assert.NotNull(identity);
            var mounts = MountInfo.Parse(File.ReadAllText($"/proc/{process.Id}/mountinfo"));
            var forged = Assert.Single(mounts, m => m.MountPoint == Path.Join(container, "forged.json"));
            Assert.Equal($"{own.AllocationsRoot}/{OtherKey}.json", forged.Root);
            Assert.NotEqual((own.Major, own.Minor), (forged.Major, forged.Minor));
            Assert.Equal([RealKey], identity.AllocationKeys);
            Assert.Equal("sleep 120", identity.CommandLine);
        }
        finally
        {
            process.Kill();
            await process.WaitForExitAsync();
        }
    }
}
