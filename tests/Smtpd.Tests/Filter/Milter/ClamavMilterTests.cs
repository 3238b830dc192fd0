using System.Security.Cryptography;
using System.Text;
using Smtpd.Tests.EndToEnd;

namespace Smtpd.Tests.Filter.Milter;

// Path of the mail: SmtpDialogue → smtpd on 127.0.0.1:{port} (listener "filter clamav", a milter)
// ⇄ Debian's clamav-milter on a loopback port → Debian's clamd on another (TCP), whose only
// signature is the test's own: an .hdb line with the EICAR file's MD5 and size (no freshclam, no
// internet) → fs queue → maildir {dir}/maildirs/USER.
public sealed class ClamavMilterTests
{
    const string Eicar = @"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";

    static string WithAttachment(string subject, byte[] file) =>
        $"From: alice@example.org\r\nTo: someone@localhost\r\nSubject: {subject}\r\nMIME-Version: 1.0\r\n" +
        "Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n" +
        "--b1\r\nContent-Type: text/plain\r\n\r\nSee the attachment.\r\n" +
        "--b1\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"file.com\"\r\n" +
        $"Content-Transfer-Encoding: base64\r\n\r\n{Convert.ToBase64String(file)}\r\n--b1--";

    [SkippableFact]
    public async Task TheEicarFileIsRejectedAndACleanAttachmentDelivered()
    {
        MilterDaemon.Require("/usr/sbin/clamd", "clamav-daemon");
        MilterDaemon.Require("/usr/sbin/clamav-milter", "clamav-milter");
        byte[] eicar = Encoding.ASCII.GetBytes(Eicar);
        string user = Environment.UserName == "root" ? "User root\n" : "";
        await using var clamd = await MilterDaemon.StartAsync("/usr/sbin/clamd", (dir, port) =>
        {
            Directory.CreateDirectory(Path.Combine(dir, "db"));
            Directory.CreateDirectory(Path.Combine(dir, "tmp"));
            File.WriteAllText(Path.Combine(dir, "db", "test.hdb"),
                $"{Convert.ToHexStringLower(MD5.HashData(eicar))}:{eicar.Length}:Test.EICAR.Written-By-Test\n");
            File.WriteAllText(Path.Combine(dir, "clamd.conf"),
                $"Foreground yes\nTCPSocket {port}\nTCPAddr 127.0.0.1\nDatabaseDirectory {dir}/db\nTemporaryDirectory {dir}/tmp\n" +
                $"PidFile {dir}/clamd.pid\nLogFile {dir}/clamd.log\n{user}");
            return ["-c", Path.Combine(dir, "clamd.conf")];
        }, TimeSpan.FromSeconds(120));
        await using var milter = await MilterDaemon.StartAsync("/usr/sbin/clamav-milter", (dir, port) =>
        {
            File.WriteAllText(Path.Combine(dir, "clamav-milter.conf"),
                $"Foreground yes\nMilterSocket inet:{port}@127.0.0.1\nClamdSocket tcp:127.0.0.1:{clamd.Port}\nOnInfected Reject\n" +
                $"OnClean Accept\nOnFail Defer\nAddHeader Replace\nPidFile {dir}/milter.pid\nLogFile {dir}/milter.log\n{user}");
            return ["-c", Path.Combine(dir, "clamav-milter.conf")];
        });
        await using var smtpd = new SmtpdInstance($"""
            filter "clamav" milter "{milter.Address}"
            listen on 127.0.0.1 port {"{port}"} hostname mx.test filter "clamav"
            action "local" maildir "{"{dir}"}/maildirs/%{"{user.username}"}"
            match from local for local action "local"
            """);
        await smtpd.StartAsync();
        await using (var c = await MilterTests.ConnectAsync(smtpd))
        {
            string infected = await MilterTests.SendAsync(c, $"{MilterTests.Me}@localhost", WithAttachment("infected", eicar));
            Assert.True(infected.StartsWith('5'), $"{infected}\n{smtpd.Log}");
            Assert.StartsWith("250", await MilterTests.SendAsync(c, $"{MilterTests.Me}@localhost", WithAttachment("clean", RandomNumberGenerator.GetBytes(300))));
            Assert.StartsWith("221", await c.CommandAsync("QUIT"));
        }
        string mail = File.ReadAllText(Assert.Single(await Mailboxes.WaitForMaildirAsync(Path.Combine(smtpd.Maildirs, MilterTests.Me), 1, MilterTests.Wait)));
        Assert.Contains("Subject: clean", mail);
        Assert.Contains("X-Virus-Scanned: clamav-milter", mail); // clamav-milter's header at end of message
        await Task.Delay(500);
        Assert.Single(MilterTests.Delivered(smtpd));
    }
}
