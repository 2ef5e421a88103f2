using System.Diagnostics;
using System.Globalization;

namespace MetaGpu.Bench;

/// <summary>
/// <c>metagpu serve</c> of the published binary on a socket in a fresh temp folder, killed and cleaned up on
/// dispose: the daemon the footprint and attack figures are measured on.
/// </summary>
sealed class ServeProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly string _directory;

    private ServeProcess(Process process, string directory, string socket)
    {
        _process = process;
        _directory = directory;
        Socket = socket;
    }

    public string Socket { get; }
    public int Id => _process.Id;
    public bool HasExited => _process.HasExited;

    /// <summary>Starts it and waits (up to 10 s) for its socket; <see cref="Ready"/> says whether it came.</summary>
    public static async Task<ServeProcess> StartAsync(string binary, string prefix)
    {
        var directory = Path.Combine(Path.GetTempPath(), prefix + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(directory);
        var socket = Path.Combine(directory, "health.sock");
        var process = Process.Start(new ProcessStartInfo(binary, ["serve", "--socket", socket])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        })!;
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!File.Exists(socket) && DateTime.UtcNow < deadline)
            await Task.Delay(10);
        return new ServeProcess(process, directory, socket);
    }

    public bool Ready => File.Exists(Socket);

    /// <summary>A field of <c>/proc/PID/status</c> in KiB (<c>VmRSS:</c>, <c>VmHWM:</c>); -1 if absent.</summary>
    public long StatusKiB(string field)
    {
        foreach (var line in File.ReadLines($"/proc/{_process.Id}/status"))
        {
            if (line.StartsWith(field, StringComparison.Ordinal))
                return long.Parse(line[field.Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture);
        }
        return -1;
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill();
            await _process.WaitForExitAsync();
        }
        _process.Dispose();
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
