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
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(Timeout);
            try { await process.WaitForExitAsync(timeout.Token); }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                process.Kill(entireProcessTree: true);
                return Outcome.TempFail($"\"{command}\" did not finish within {Timeout.TotalMinutes} minutes");
            }
            string output = (await stdout + await stderr).Trim();
            if (output.Length > MaxOutput) output = output[..MaxOutput];
            output = output.Replace('\n', ' ').Replace('\r', ' ');
            return process.ExitCode switch
            {
                0 => Outcome.Ok("Delivered"),
                ExTempFail => Outcome.TempFail($"\"{command}\" exited with 75 (temporary failure){(output.Length > 0 ? ": " + output : "")}"),
                int code => Outcome.PermFail($"\"{command}\" exited with {code}{(output.Length > 0 ? ": " + output : "")}"),
            };
        }
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
