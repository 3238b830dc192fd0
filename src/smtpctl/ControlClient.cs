using System.Net.Sockets;
using System.Text;
using Smtpd.Control;

namespace Smtpd.Ctl;

/// <summary>Sends one request over the control socket and prints the daemon's answer.</summary>
public static class ControlClient
{
    /// <summary>The socket of the daemon this user talks to, resolved as smtpd resolves it (SmtpdPaths.ForClient).</summary>
    public static string SocketPath => SmtpdPaths.ForClient(Environment.GetEnvironmentVariable).ControlSocket;

    public static async Task<int> RunAsync(IReadOnlyList<string> words)
    {
        // A command it cannot read gets its possibilities whether or not smtpd runs (exit 255), as
        // OpenSMTPD's, which has no -j: with -j the daemon answers (a verb without a JSON form).
        string[] command = [.. words];
        if (!ControlGrammar.TakeJsonFlag(ref command) && !ControlGrammar.IsCommand(command))
        {
            foreach (string line in ControlGrammar.Possibilities(command)) Console.Error.WriteLine(line);
            return 255;
        }
        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        string path = SocketPath;
        try { await socket.ConnectAsync(new UnixDomainSocketEndPoint(path)); }
        catch (SocketException ex)
        {
            // OpenSMTPD's words first (scripts match them), then which socket and why.
            Console.Error.WriteLine("smtpctl: smtpd doesn't seem to be running");
            Console.Error.WriteLine($"smtpctl: cannot connect to {path}: {ex.Message}");
            return 1;
        }
        await using var stream = new NetworkStream(socket, ownsSocket: false);
        await stream.WriteAsync(Encoding.UTF8.GetBytes(string.Join(' ', words) + "\n"));
        using var reader = new StreamReader(stream, Encoding.UTF8);
        var stdout = Console.Out;
        while (await reader.ReadLineAsync() is { } line)
        {
            if (line.StartsWith(ControlProtocol.ExitPrefix, StringComparison.Ordinal))
                return int.TryParse(line.AsSpan(ControlProtocol.ExitPrefix.Length), out int code) ? code : 1;
            if (line.StartsWith(ControlProtocol.ErrorPrefix, StringComparison.Ordinal)) Console.Error.WriteLine(line[ControlProtocol.ErrorPrefix.Length..]);
            else (line.StartsWith("smtpctl: ", StringComparison.Ordinal) ? Console.Error : stdout).WriteLine(line);
            if (words is ["monitor"]) await stdout.FlushAsync();
        }
        Console.Error.WriteLine("smtpctl: connection closed by smtpd");
        return 1;
    }
}
