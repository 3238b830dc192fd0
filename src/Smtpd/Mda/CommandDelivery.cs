using System.Diagnostics;
using System.Text;

namespace Smtpd.Mda;

/// <summary>
/// <c>mda "command"</c> and alias <c>|command</c> (OpenSMTPD's mda_unpriv): the command runs
/// through /bin/sh as the recipient (their uid, gid and groups, via util-linux setpriv when we
/// are root), in their home, with OpenSMTPD's environment, the message on standard input.
/// Exit 0 is delivered, 75 (EX_TEMPFAIL) is tried again later, anything else is a permanent
/// failure carrying what the command printed.
/// </summary>
public sealed class CommandDelivery(string command) : IMailboxDelivery
{
    static readonly TimeSpan Timeout = TimeSpan.FromMinutes(10);
    const int ExTempFail = 75;
    const int MaxOutput = 1000;

    public async Task<Outcome> DeliverAsync(DeliveryRequest request, CancellationToken ct)
    {
        var user = request.User;
        var psi = new ProcessStartInfo
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = Directory.Exists(user.Home) ? user.Home : "/",
        };
        if (LocalUsers.IsRoot && user.Uid != 0)
        {
            psi.FileName = "/usr/bin/setpriv";
            foreach (var a in new[] { $"--reuid={user.Uid}", $"--regid={user.Gid}", "--init-groups", "--", "/bin/sh", "-c", command })
                psi.ArgumentList.Add(a);
        }
        else
        {
            psi.FileName = "/bin/sh";
            psi.ArgumentList.Add("-c");
            psi.ArgumentList.Add(command);
        }
        psi.Environment.Clear();
        foreach (var (k, v) in Environment(request)) psi.Environment[k] = v;

        Process process;
        try { process = Process.Start(psi)!; }
        catch (Exception ex) when (ex is System.ComponentModel.Win32Exception or IOException)
        {
            return Outcome.TempFail($"cannot run \"{command}\": {SystemErrors.Describe(ex)}");
        }
        using (process)
        {
            var stdout = process.StandardOutput.ReadToEndAsync(ct);
            var stderr = process.StandardError.ReadToEndAsync(ct);
            try
            {
                await using (var source = request.OpenMessage())
                await using (var stdin = process.StandardInput.BaseStream)
                {
                    await stdin.WriteAsync(DeliveredMessage.Headers(request), ct);
                    DeliveredMessage.CopyAsLf(source, stdin, escapeFrom: false);
                }
            }
            catch (IOException ex) when (ex is not Queue.CorruptMessageException)
            {
                // The command stopped reading early; its exit status decides.
            }
            // In a delivery process: the system's clock, the only one there.
            using var timeout = Deadline.After(TimeProvider.System, Timeout, ct);
            try { await process.WaitForExitAsync(timeout.Token); }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                process.Kill(entireProcessTree: true);
                return Outcome.TempFail($"\"{command}\" did not finish within {Timeout.TotalMinutes} minutes");
            }
            // As OpenSMTPD's mda: the error is the last line the command printed, quoted and
            // with unsafe characters escaped, or "exited abnormally" when it printed nothing.
            string lastLine = LastLine(await stdout + await stderr);
            string error = lastLine.Length > 0 ? $"\"{Escape(lastLine)}\"" : "exited abnormally";
            return process.ExitCode switch
            {
                0 => Outcome.Ok("Delivered"),
                ExTempFail => Outcome.TempFail(error),
                _ => Outcome.PermFail(error),
            };
        }
    }

    /// <summary>The last line of the output ("" for none), cut at <see cref="MaxOutput"/> characters.</summary>
    static string LastLine(string output)
    {
        if (output.EndsWith('\n')) output = output[..^1];
        if (output.Length == 0) return "";
        string line = output[(output.LastIndexOf('\n') + 1)..].TrimEnd('\r');
        return line.Length > MaxOutput ? line[..MaxOutput] : line;
    }

    /// <summary>
    /// Control characters, DEL and backslash written the way OpenSMTPD's strnvis (VIS_SAFE |
    /// VIS_CSTYLE) writes them, so that a line cannot forge log or queue text.
    /// </summary>
    static string Escape(string line)
    {
        var sb = new StringBuilder(line.Length);
        foreach (char ch in line)
        {
            switch (ch)
            {
                case '\\': sb.Append("\\\\"); break;
                case '\t' or '\b' or '\a': sb.Append(ch); break;
                case '\r': sb.Append(' '); break; // kept off the queue's line-based envelope
                case '\n': sb.Append("\\n"); break;
                case '\v': sb.Append("\\v"); break;
                case '\f': sb.Append("\\f"); break;
                case '\0': sb.Append("\\0"); break;
                case < ' ' or '\x7f': sb.Append('\\').Append(Convert.ToString(ch, 8).PadLeft(3, '0')); break;
                default: sb.Append(ch); break;
            }
        }
        return sb.ToString();
    }

    /// <summary>The environment OpenSMTPD gives a delivery command.</summary>
    static IEnumerable<(string, string)> Environment(DeliveryRequest r)
    {
        static (string User, string Domain) Split(string a)
        {
            int at = a.LastIndexOf('@');
            return at < 0 ? (a, "") : (a[..at], a[(at + 1)..]);
        }
        var rcpt = Split(r.Recipient);
        yield return ("PATH", "/usr/bin:/bin:/usr/sbin:/sbin");
        yield return ("DOMAIN", rcpt.Domain);
        yield return ("HOME", r.User.Home);
        yield return ("ORIGINAL_RECIPIENT", r.Recipient);
        yield return ("RECIPIENT", r.Dest);
        yield return ("SHELL", "/bin/sh");
        yield return ("LOCAL", rcpt.User);
        yield return ("LOGNAME", r.User.Name);
        yield return ("USER", r.User.Name);
        yield return ("SENDER", r.Sender);
        string local = rcpt.User;
        int plus = local.IndexOf('+');
        if (plus >= 0) yield return ("EXTENSION", local[(plus + 1)..]);
    }
}
