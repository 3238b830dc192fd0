using System.Diagnostics;
using Smtpd.Tests.EndToEnd;

namespace Smtpd.Tests.Filter.Milter;

// Path of the mail: our smtpctl run as "sendmail" (local submission, no SMTP client) → smtpd's
// local socket (listener "socket", filter "local", a milter) ⇄ ScriptedMilter A; and SmtpDialogue
// → smtpd on 127.0.0.1:{port} (filter "net") ⇄ ScriptedMilter B. Each goes to maildir
// {dir}/maildirs/USER. Postfix's non_smtpd_milters, our way: the local socket names its own.
public sealed class LocalSubmissionMilterTests
{
    [Fact]
    public async Task LocallySubmittedMailHasItsOwnMilters()
    {
        await using var local = new ScriptedMilter
        {
            Script = (_, f) => f.Code == 'E' ? MilterAct.Reply(MilterFrame.Of('h', "X-Local-Milter", "yes"), new MilterFrame('c', [])) : null,
        };
        await using var network = new ScriptedMilter();
        await using var smtpd = new SmtpdInstance($"""
            filter "local" milter "{local.Address}"
            filter "net" milter "{network.Address}"
            listen on socket filter "local"
            listen on 127.0.0.1 port {"{port}"} hostname mx.test filter "net"
            action "local" maildir "{"{dir}"}/maildirs/%{"{user.username}"}"
            match from local for local action "local"
            """);
        await smtpd.StartAsync();

        string bin = Directory.CreateTempSubdirectory("sendmail-bin-").FullName;
        try
        {
            string sendmail = Path.Combine(bin, "sendmail");
            File.CreateSymbolicLink(sendmail, TestBinaries.SmtpctlExecutable);
            var psi = new ProcessStartInfo(sendmail) { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
            psi.ArgumentList.Add(MilterTests.Me);
            psi.Environment["SMTPD_SOCKET"] = smtpd.ControlSocket;
            psi.Environment["SMTPD_SPOOL"] = smtpd.Spool;
            using var p = Process.Start(psi)!;
            var output = p.StandardOutput.ReadToEndAsync();
            var error = p.StandardError.ReadToEndAsync();
            await p.StandardInput.WriteAsync("Subject: submitted locally\n\nfrom the command line\n");
            p.StandardInput.Close();
            using var cts = new CancellationTokenSource(MilterTests.Wait);
            await p.WaitForExitAsync(cts.Token);
            Assert.True(p.ExitCode == 0, await output + await error + smtpd.Log);
        }
        finally { Directory.Delete(bin, recursive: true); }

        string mail = File.ReadAllText(Assert.Single(await Mailboxes.WaitForMaildirAsync(Path.Combine(smtpd.Maildirs, MilterTests.Me), 1, MilterTests.Wait)));
        Assert.Contains("X-Local-Milter: yes", mail);
        // The local milter saw a client without an address ('U'), the network one nothing.
        var frames = await local.WaitForAsync(0, 'E', MilterTests.Wait);
        var connect = frames.First(f => f.Code == 'C').Data;
        Assert.Equal((byte)'U', connect[Array.IndexOf(connect, (byte)0) + 1]);
        Assert.Equal(0, network.Connections);
    }
}
