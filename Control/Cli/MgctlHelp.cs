namespace MetaGpu.Control.Cli;

/// <summary>
/// The help texts: per topic a usage block (also shown under a usage error) and the rest (examples, notes, exit codes).
/// <paramref name="program"/> is how mgctl was invoked: <c>mgctl</c>, or <c>metagpu ctl</c>.
/// </summary>
public static class MgctlHelp
{
    private const string GlobalOptions = """
        Options of every command:
          -o, --output FORMAT    table (default), wide (more columns, full commands) or json
              --socket PATH      the daemon's socket [env METAGPU_CTL_SOCKET; default /run/metagpu/control.sock]
              --timeout DURATION how long the daemon may take to answer, e.g. 500ms, 5s, 1m [default: 5s]
          -h, --help             this help
        """;

    public static string Usage(HelpTopic topic, string program) => topic switch
    {
        HelpTopic.Overview => $"""
            Usage: {program} COMMAND [options]

            Commands:
              get devices            the GPUs you may see: your share, memory used/allowed, other containers' use
              get processes [-w]     your containers' GPU processes and use of each GPU (also: {program} ps)
              kill PID [-s SIGNAL]   signal one of your GPU processes (SIGTERM unless -s says otherwise)
              info                   the node, the daemon's version and your scope (what you may see and do)
              ping                   check that the daemon answers, and how fast
              version                {program}'s version, and the daemon's when it answers
              help [COMMAND]         this text, or a command's

            {GlobalOptions}
            """,
        HelpTopic.Get => $"""
            Usage: {program} get devices [options]
                   {program} get processes [-w] [options]

            {GetResources(program)}
            Options of get processes:
              -w, --watch            keep watching: a new view each time what you may see changes (Ctrl-C stops)

            {GlobalOptions}
            """,
        HelpTopic.GetDevices => $"""
            Usage: {program} get devices [options]

            The GPUs you may see, one row each: your share of the GPU and the memory you use of what you were
            allowed, the GPU's memory, utilisation and, as totals only, what other containers use on it.
            On the node (node scope): every GPU and how each MetaGPU resource splits it.
            Also spelled: get device, get dev, get gpus, get gpu.

            {GlobalOptions}
            """,
        HelpTopic.GetProcesses => $"""
            Usage: {program} get processes [-w] [options]
                   {program} ps [-w] [options]

            Your containers' use of each GPU (share, memory used/allowed, SM utilisation), then your GPU
            processes. Other containers on the same GPUs appear as totals only, never by name or pid. A pid
            shown as '-' belongs to your container but not to your pid namespace. On the node (node scope):
            every container's processes, host pids, and the GPU processes of no allocation.
            Also spelled: get process, get procs, get proc, get ps.

            Options:
              -w, --watch            keep watching: redrawn in place on a terminal; otherwise one JSON document
                                     per change, one per line (NDJSON), whatever -o says. Ctrl-C stops it (exit 0);
                                     when the daemon restarts, {program} reconnects and carries on.

            {GlobalOptions}
            """,
        HelpTopic.Kill => $"""
            Usage: {program} kill PID [-s SIGNAL] [options]

            Sends a signal to one GPU process, by the pid '{program} get processes' shows. Inside a container
            only your own container's processes; on the node, any process on a MetaGPU GPU.

            Options:
              -s, --signal SIGNAL    TERM (15, the default), KILL (9) or INT (2); SIGTERM etc. too

            {GlobalOptions}
            """,
        HelpTopic.Info => $"""
            Usage: {program} info [options]

            The node, the daemon's and {program}'s versions, your scope (allocation: your own container;
            node: everything) and why the daemon gave it, your pid as the daemon sees it, and your allocations.

            {GlobalOptions}
            """,
        HelpTopic.Ping => $"""
            Usage: {program} ping [options]

            Asks the daemon to answer at once and prints how long the round trip took.

            {GlobalOptions}
            """,
        HelpTopic.Version => $"""
            Usage: {program} version [options]

            Prints {program}'s version, and the daemon's when it answers (exit 0 either way: use
            '{program} ping' to check the daemon).

            {GlobalOptions}
            """,
        _ => $"""
            Usage: {program} help [COMMAND]

            The overview, or one command's help: get, get devices, get processes, ps, kill, info, ping,
            version, help. '{program} COMMAND --help' is the same.

            """,
    };

    private static string GetResources(string program) => $"""
        Resources:
          devices (device, dev, gpus, gpu)        the GPUs you may see; see '{program} help get devices'
          processes (process, procs, proc, ps)    GPU processes; see '{program} help get processes'

        """;

    public static string Full(HelpTopic topic, string program)
    {
        var more = topic switch
        {
            HelpTopic.Overview => $"""
                Inside a container given a MetaGPU resource (cnvrg.io/metagpu by default), you see your own
                container, its processes and the GPUs it was given; other containers on those GPUs only as totals.
                On the node (the metagpu pod, or root on the host) you see and may signal everything.

                Examples:
                  {program} get processes              your GPU processes, memory used/allowed and share
                  {program} get processes -w           the same, kept up to date
                  {program} get devices -o json        the GPUs as JSON (stable: fields are only added)
                  {program} kill 4242 -s KILL          stop a runaway process at once

                Environment:
                  METAGPU_CTL_SOCKET     the daemon's socket when --socket is not given
                  NO_COLOR               any non-empty value: no colours (https://no-color.org)
                  TERM                   dumb: no colours, and a watch prints each view instead of redrawing

                """,
            HelpTopic.GetProcesses => $"""
                Examples:
                  {program} get processes
                  {program} get processes -o wide      with GPU UUIDs, namespace, pod, container, full commands
                  {program} get processes -w | jq .    one JSON document per change

                """,
            HelpTopic.Kill => $"""
                Examples:
                  {program} kill 4242                  SIGTERM: ask it to stop
                  {program} kill 4242 -s KILL          SIGKILL: stop it at once

                """,
            _ => "",
        };
        return Usage(topic, program).TrimEnd() + "\n\n" + (more.Length > 0 ? more.TrimEnd() + "\n\n" : "") + MgctlExitCodes.Help.TrimEnd() + "\n";
    }
}
