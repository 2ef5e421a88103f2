using MetaGpu.Tests.Support;

namespace MetaGpu.Tests.Usage.Containers;

/// <summary>
/// The static C program (<c>workload.c</c> beside this file) that the container tests run as a container's process.
/// Built with <c>gcc -static</c> once per version of its source (<see cref="CProgram"/>). Its output is line-oriented
/// ("pid: 1", "env: K=V", the allocation file between "allocation-begin" and "allocation-end", "ready" last); see the
/// comment at the top of workload.c.
/// </summary>
public static class WorkloadProgram
{
    /// <summary>Where the program lies inside the container's root filesystem.</summary>
    public const string ContainerPath = "/workload";

    /// <summary>The exit code of <see cref="Forge"/> when the kernel refuses a step of the attack (the reason is printed).</summary>
    public const int ForgeRefusedExitCode = 42;

    private static readonly string[] Flags = ["-static", "-O2", "-Wall", "-Wextra"];
    private static readonly Lazy<string> Binary = new(Build);

    /// <summary>The built program on this machine.</summary>
    public static string HostPath => Binary.Value;

    /// <summary>Report (pid, env, allocation file, whether it can be written), print "ready", wait to be killed.</summary>
    public static string[] Sleep() => [ContainerPath, "sleep"];

    /// <summary>As <see cref="Sleep"/>, and start <paramref name="children"/> more processes that wait too ("child: PID" each).</summary>
    public static string[] Fork(int children) => [ContainerPath, "fork", children.ToString(System.Globalization.CultureInfo.InvariantCulture)];

    /// <summary>
    /// The look-alike attack of issue item 2: in a user and mount namespace of its own, the process mounts a tmpfs,
    /// creates <paramref name="root"/> (an absolute path) in it holding <paramref name="text"/>, and bind-mounts that
    /// file over <paramref name="destination"/>. Its mountinfo then has an entry at the destination whose root is
    /// <paramref name="root"/>, but whose device is the tmpfs. Prints "forged: DEST" and then "ready".
    /// </summary>
    public static string[] Forge(string root, string text, string destination = "/etc/metagpu/allocation.json") =>
        [ContainerPath, "forge", root, text, destination];

    /// <summary>As <see cref="Forge"/>, then runs <paramref name="command"/> inside the forged namespaces and prints "exec-exit: N".</summary>
    public static string[] ForgeThen(string root, string text, string destination, params string[] command) =>
        [ContainerPath, "forge", root, text, destination, "--", .. command];

    /// <summary>
    /// Runs <paramref name="command"/> and prints "run-exit: N" and "run-us: T" (its wall time, fork to exit, in µs)
    /// after its output: for <c>runc exec</c>, to time a program inside the container.
    /// </summary>
    public static string[] Run(params string[] command) => [ContainerPath, "run", .. command];

    private static string Build() => CProgram.Build(Path.Combine("tests", "Usage", "Containers", "workload.c"), "workload", Flags);
}
