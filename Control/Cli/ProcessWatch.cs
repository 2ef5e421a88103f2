using System.Text;
using Grpc.Core;
using MetaGpu.Control.V1;

namespace MetaGpu.Control.Cli;

/// <summary>
/// <c>get processes -w</c>: WatchContainers, a view per message. On a terminal the table is redrawn in place; otherwise
/// (or with <c>-o json</c>) each change is one JSON document on one line (NDJSON), whatever <c>-o</c> says. When the daemon goes away (it
/// restarts; its new socket appears at the same mounted path) the watch says so once on stderr and reconnects with
/// backoff. Ctrl-C ends it with exit 0; so does a reader that went away ('| head').
/// </summary>
internal sealed class ProcessWatch(
    DaemonClient daemon, MgctlCommand command, TextWriter stdout, TextWriter stderr, MgctlEnvironment env, string program, string clientVersion, Styler styler)
{
    private static readonly TimeSpan FirstRetry = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan LastRetry = TimeSpan.FromSeconds(2);

    private const string Home = "\u001b[H";
    private const string ClearScreen = "\u001b[2J";
    private const string ClearToLineEnd = "\u001b[K";
    private const string ClearBelow = "\u001b[J";

    private string? _last;
    private bool _drawn;

    public async Task<int> RunAsync()
    {
        var delay = FirstRetry;
        var connected = false; // once: a first failure is an error, later ones are a restart to wait out
        var away = false;
        while (true)
        {
            string lost;
            try
            {
                var info = await daemon.InfoAsync().ConfigureAwait(false);
                using var call = daemon.WatchContainers();
                while (await call.ResponseStream.MoveNext(env.Interrupt).ConfigureAwait(false))
                {
                    var containers = call.ResponseStream.Current;
                    var devices = await daemon.ListDevicesAsync().ConfigureAwait(false);
                    if (away)
                        stderr.Write($"{program}: the daemon is back; watching again\n");
                    connected = true;
                    away = false;
                    delay = FirstRetry;
                    if (!Show(new ProcessesView(info, devices, containers)))
                        return MgctlExitCodes.Ok;
                }
                lost = "it ended the watch";
            }
            catch (Exception) when (env.Interrupt.IsCancellationRequested)
            {
                return MgctlExitCodes.Ok;
            }
            catch (RpcException e) when (connected && Transient(e.StatusCode))
            {
                lost = Text.Printable(e.Status.Detail, 200);
            }
            catch (RpcException e)
            {
                throw daemon.Describe(e);
            }
            catch (DaemonCallException e) when (connected && Transient(e.Status))
            {
                lost = e.Message;
            }

            if (!away)
            {
                stderr.Write($"{program}: lost the daemon ({lost}); reconnecting until it is back (Ctrl-C stops)\n");
                away = true;
            }
            try
            {
                await Task.Delay(delay, env.Time, env.Interrupt).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return MgctlExitCodes.Ok;
            }
            delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, LastRetry.Ticks));
        }
    }

    /// <summary>What a daemon restart looks like from here: the connection lost, refused, or not answering in time.</summary>
    private static bool Transient(StatusCode code) =>
        code is StatusCode.Unavailable or StatusCode.DeadlineExceeded or StatusCode.Cancelled or StatusCode.Aborted;

    /// <summary>Writes the view if it changed; false when standard output is gone.</summary>
    private bool Show(ProcessesView view)
    {
        try
        {
            if (!env.IsTerminal || command.Output == OutputFormat.Json)
            {
                var line = MgctlJson.Processes(view, indented: false);
                if (line == _last)
                    return true;
                _last = line;
                stdout.Write(line + "\n");
            }
            else
            {
                var frame = ProcessesTable.Render(view, command.Output == OutputFormat.Wide, env, clientVersion, styler);
                if (frame == _last)
                    return true;
                _last = frame;
                var status = $"{program} get processes -w   {env.Time.GetLocalNow():HH:mm:ss}   (Ctrl-C to stop)\n";
                stdout.Write(env.CanRedraw ? Redraw(status + frame) : (_drawn ? "\n" : "") + status + frame);
            }
            _drawn = true;
            stdout.Flush();
            return true;
        }
        catch (IOException)
        {
            return false;
        }
    }

    /// <summary>Cursor home, each line cleared to its end as it is rewritten, then the rest of the screen cleared.</summary>
    private string Redraw(string frame)
    {
        var sb = new StringBuilder(frame.Length + 256);
        sb.Append(_drawn ? Home : Home + ClearScreen);
        foreach (var line in frame.AsSpan().TrimEnd('\n').EnumerateLines())
            sb.Append(line).Append(ClearToLineEnd).Append('\n');
        sb.Append(ClearBelow);
        return sb.ToString();
    }
}
