using System.Text;
using MimeKit;
using Smtpd.Control;

namespace Smtpd.Ctl;

/// <summary>
/// <c>sendmail</c> / <c>smtpctl sendmail</c>: reads a message on standard input and enqueues it
/// through the control socket, or, when the daemon is not running, leaves it in the spool's
/// offline directory for the daemon to pick up. Accepts the usual flags: <c>-t</c>, <c>-f</c>,
/// <c>-F</c>, <c>-i</c>/<c>-oi</c>, <c>-bs</c>, <c>-bp</c>, and ignores the ones other MTAs'
/// sendmail ignore. The sender is the invoking user unless root says otherwise.
/// </summary>
public static class SendmailCommand
{
    public static async Task<int> RunAsync(string[] args)
    {
        var o = SendmailOptions.Parse(args, out string? error);
        if (error is not null) { Console.Error.WriteLine($"sendmail: {error}"); return 64; }
        if (o.ListQueue) return await ControlClient.RunAsync(["show", "queue"]);
        if (o.SmtpOnStdio) return await SmtpOnStdioAsync();

        byte[] raw = ReadMessage(o.IgnoreDots);
        string user = Invoker.UserName;
        string host = System.Net.Dns.GetHostName();
        // A bare user name ("sendmail root", as cron does; or -f root) is qualified with this
        // host, as OpenSMTPD's enqueue does (qualify_addr).
        string Qualify(string address) => address.Contains('@') || address.Length == 0 ? address : $"{address}@{host}";
        string sender = o.Sender is { } claimed && Invoker.IsTrusted ? Qualify(claimed) : $"{user}@{host}";

        var (message, headerRecipients) = Headers.Prepare(raw, o.RecipientsFromHeaders, sender, o.FullName);
        var recipients = o.Recipients.Concat(headerRecipients).Select(Qualify).Distinct(StringComparer.OrdinalIgnoreCase).ToList();
        if (recipients.Count == 0) { Console.Error.WriteLine("sendmail: no recipients"); return 64; }

        var paths = SmtpdPaths.ForClient(Environment.GetEnvironmentVariable);
        try
        {
            // Blocking calls from here on: nothing below starts a thread (see LocalSubmission.Submit).
            LocalSubmission.Submit(paths.ControlSocket, sender, recipients, new MemoryStream(message));
            return 0;
        }
        catch (Exception ex) when (ex is LocalSubmission.NotRunningException or IOException)
        {
            // Not running, or gone mid-session (closed, or no answer in time) before it said the
            // message was stored: kept offline for the daemon to take when it can (a duplicate,
            // if it had stored it after all, is better than a loss).
            if (ex is IOException) Console.Error.WriteLine($"sendmail: lost the connection to smtpd ({ex.Message}); the message goes to the offline queue");
            string spool = paths.Spool;
            try
            {
                OfflineQueue.Write(spool, sender, recipients, message);
                return 0;
            }
            catch (Exception write) when (write is IOException or UnauthorizedAccessException)
            {
                Console.Error.WriteLine($"sendmail: smtpd is not reachable and the offline queue in {spool} is not writable: {write.Message}");
                return 75; // EX_TEMPFAIL
            }
        }
        catch (InvalidOperationException ex)
        {
            // A 4xx is a refusal for now (a full spool, a milter's tempfail): the caller may try again.
            bool temporary = ex.Message.StartsWith('4');
            Console.Error.WriteLine($"sendmail: message {(temporary ? "deferred" : "refused")}: {ex.Message}");
            return temporary ? 75 : 1; // EX_TEMPFAIL
        }
    }

    /// <summary>Without -i, a line holding a single dot ends the message (historic sendmail).
    /// Read blocking: an asynchronous read of standard input runs on the thread pool.</summary>
    static byte[] ReadMessage(bool ignoreDots)
    {
        using var stdin = Console.OpenStandardInput();
        using var buffer = new MemoryStream();
        stdin.CopyTo(buffer);
        byte[] all = buffer.ToArray();
        if (ignoreDots) return all;
        string text = Encoding.UTF8.GetString(all);
        int end = text.IndexOf("\n.\n", StringComparison.Ordinal);
        if (text.StartsWith(".\n", StringComparison.Ordinal)) return [];
        return end < 0 ? all : Encoding.UTF8.GetBytes(text[..(end + 1)]);
    }

    /// <summary><c>-bs</c>: an SMTP session with the daemon on standard input and output.</summary>
    static async Task<int> SmtpOnStdioAsync()
    {
        using var socket = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.Unix, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Unspecified);
        try { await socket.ConnectAsync(new System.Net.Sockets.UnixDomainSocketEndPoint(ControlClient.SocketPath)); }
        catch (System.Net.Sockets.SocketException ex) { Console.Error.WriteLine($"sendmail: smtpd is not running: {ex.Message}"); return 75; }
        await using var stream = new System.Net.Sockets.NetworkStream(socket, ownsSocket: false);
        await stream.WriteAsync(Encoding.UTF8.GetBytes(ControlProtocol.Enqueue + "\n"));
        using var stdin = Console.OpenStandardInput();
        using var stdout = Console.OpenStandardOutput();
        var up = stdin.CopyToAsync(stream);
        await stream.CopyToAsync(stdout);
        return 0;
    }
}
