using System.Diagnostics;
using MailKit.Net.Smtp;
using MimeKit;

namespace Smtpd.Tests.EndToEnd;

// Path of the mail: MailKit → smtpd started as the ordinary user "smtpdtest" with no
// configuration at all (the embedded minimalist setup) → its spool under
// ~smtpdtest/.local/state/smtpd → maildir ~smtpdtest/Maildir. This is the README's quick start.
public sealed class DefaultConfigTests
{
    const string User = "smtpdtest";

    [SkippableFact]
    public async Task Normal_user_without_configuration_gets_mail_in_Maildir()
    {
        Skip.IfNot(Environment.UserName == "root", "needs root to start smtpd as another user");
        Skip.If(File.Exists("/etc/smtpd.conf"), "/etc/smtpd.conf exists; the embedded default would not be used");
        var (ok, _) = await Run("id", User);
        Skip.IfNot(ok, $"no user {User} (.ci/run creates it)");
        string home = $"/home/{User}";
        Skip.IfNot(Directory.Exists(home), $"{home} does not exist");

        string maildir = Path.Combine(home, "Maildir");
        string state = Path.Combine(home, ".local", "state", "smtpd");
        if (Directory.Exists(maildir)) Directory.Delete(maildir, true);
        if (Directory.Exists(state)) Directory.Delete(state, true);

        // The build output may sit where the other user cannot read (e.g. under /root): run a copy.
        string bin = Directory.CreateTempSubdirectory("smtpd-bin-").FullName;
        TestBinaries.CopyTo(bin);
        File.SetUnixFileMode(bin, (UnixFileMode)0b111_101_101);
        int port = SmtpdInstance.FreePort();
        var psi = new ProcessStartInfo("runuser") { RedirectStandardError = true, RedirectStandardOutput = true };
        string[] command = ["-u", User, "--", "env", "-u", "SMTPD_SPOOL", "-u", "SMTPD_SOCKET", "-u", "XDG_STATE_HOME", $"HOME={home}", $"SMTPD_PORT={port}",
                     .. TestBinaries.Command("smtpd", bin), "-d"];
        foreach (var a in command)
            psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var log = new System.Text.StringBuilder();
        p.ErrorDataReceived += (_, e) => { lock (log) log.AppendLine(e.Data); };
        p.OutputDataReceived += (_, e) => { lock (log) log.AppendLine(e.Data); };
        p.BeginErrorReadLine(); p.BeginOutputReadLine();
        try
        {
            await WaitFor(() => { lock (log) return log.ToString().Contains("listening on"); }, () => { lock (log) return log.ToString(); });

            var m = new MimeMessage();
            m.From.Add(MailboxAddress.Parse("someone@example.org"));
            m.To.Add(MailboxAddress.Parse($"{User}@localhost"));
            m.Subject = "quick start";
            m.Body = new TextPart("plain") { Text = "it works\r\n" };
            using (var client = new SmtpClient())
            {
                await client.ConnectAsync("127.0.0.1", port, MailKit.Security.SecureSocketOptions.None);
                await client.SendAsync(m);
                // Mail for another local user cannot be delivered by an unprivileged smtpd.
                var refused = await Assert.ThrowsAsync<SmtpCommandException>(() =>
                    client.SendAsync(m, MailboxAddress.Parse("a@example.org"), [MailboxAddress.Parse("root@localhost")]));
                Assert.Equal(550, (int)refused.StatusCode);
                await client.DisconnectAsync(true);
            }

            await WaitFor(() => Directory.Exists(Path.Combine(maildir, "new")) && Directory.GetFiles(Path.Combine(maildir, "new")).Length == 1,
                () => { lock (log) return log.ToString(); });
            string file = Directory.GetFiles(Path.Combine(maildir, "new"))[0];
            Assert.Contains("it works", await File.ReadAllTextAsync(file));
            Assert.True(Directory.Exists(Path.Combine(state, "spool", "queue")), "spool not under the user's state directory");
            var (_, owner) = await Run("stat", "-c", "%U", file);
            Assert.Equal(User, owner.Trim());
        }
        finally
        {
            await Run("kill", "-TERM", p.Id.ToString());
            await p.WaitForExitAsync(new CancellationTokenSource(TimeSpan.FromSeconds(20)).Token);
            if (Directory.Exists(maildir)) Directory.Delete(maildir, true);
            if (Directory.Exists(state)) Directory.Delete(state, true);
            Directory.Delete(bin, true);
        }
    }

    static async Task WaitFor(Func<bool> condition, Func<string> context)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException(context());
            await Task.Delay(50);
        }
    }

    static async Task<(bool Ok, string Output)> Run(string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        string output = await p.StandardOutput.ReadToEndAsync();
        await p.WaitForExitAsync(new CancellationTokenSource(TimeSpan.FromSeconds(20)).Token);
        return (p.ExitCode == 0, output);
    }
}
