using System.Diagnostics;
using System.Net.Sockets;
using Smtpd.Tests.EndToEnd;

namespace Smtpd.Tests.Mda;

/// <summary>
/// A private Dovecot (Debian's dovecot-core + dovecot-lmtpd) started for a test: LMTP on a free
/// loopback port and on a unix socket, users from a passwd-file, mail in maildirs under the
/// test's directory, all owned by "nobody".
/// </summary>
public sealed class DovecotLmtp : IAsyncDisposable
{
    public const string Binary = "/usr/sbin/dovecot";
    readonly Process _process;

    public static bool Available => File.Exists(Binary) && File.Exists("/usr/lib/dovecot/lmtp");

    public string Dir { get; }
    public int Port { get; }
    public string Socket => Path.Combine(Dir, "run", "lmtp");
    public string Config => Path.Combine(Dir, "dovecot.conf");
    public string MailDir(string user) => Path.Combine(Dir, "mail", user);

    public DovecotLmtp(params string[] users)
    {
        Dir = Directory.CreateTempSubdirectory("dovecot-").FullName;
        File.SetUnixFileMode(Dir, (UnixFileMode)0b111_101_101);
        Port = SmtpdInstance.FreePort();
        foreach (var d in new[] { "run", "state", "mail" }) Directory.CreateDirectory(Path.Combine(Dir, d));
        File.SetUnixFileMode(Path.Combine(Dir, "mail"), (UnixFileMode)0b111_111_111);
        File.WriteAllLines(Path.Combine(Dir, "users"), users.Select(u => $"{u}:{{PLAIN}}unused:65534:65534::{MailDir(u)}"));
        File.WriteAllText(Config, $$"""
            base_dir = {{Dir}}/run
            state_dir = {{Dir}}/state
            log_path = {{Dir}}/dovecot.log
            protocols = lmtp
            ssl = no
            listen = 127.0.0.1
            first_valid_uid = 1
            auth_username_format = %Ln
            mail_location = maildir:~/Maildir
            passdb {
              driver = passwd-file
              args = {{Dir}}/users
            }
            userdb {
              driver = passwd-file
              args = {{Dir}}/users
            }
            service lmtp {
              inet_listener lmtp {
                address = 127.0.0.1
                port = {{Port}}
              }
              unix_listener lmtp {
                mode = 0666
              }
            }
            service anvil {
              chroot =
            }
            """);
        var psi = new ProcessStartInfo(Binary) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "-F", "-c", Config }) psi.ArgumentList.Add(a);
        _process = Process.Start(psi)!;
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        var deadline = DateTime.UtcNow.AddSeconds(15);
        while (DateTime.UtcNow < deadline)
        {
            if (_process.HasExited) throw new InvalidOperationException($"dovecot exited: {Log}");
            try { using var c = new TcpClient("127.0.0.1", Port); if (File.Exists(Socket)) return; }
            catch (SocketException) { }
            Thread.Sleep(100);
        }
        throw new TimeoutException($"dovecot did not start: {Log}");
    }

    public string Log => File.Exists(Path.Combine(Dir, "dovecot.log")) ? File.ReadAllText(Path.Combine(Dir, "dovecot.log")) : "";

    /// <summary>What Dovecot itself reads from a user's mailbox: the subjects, via doveadm.</summary>
    public async Task<string> SubjectsAsync(string user)
    {
        var (_, output) = await ExternalTool.RunAsync("doveadm", ["-c", Config, "fetch", "-u", user, "hdr.subject", "ALL"]);
        return output;
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited) _process.Kill(entireProcessTree: true);
        await _process.WaitForExitAsync();
        try { Directory.Delete(Dir, recursive: true); } catch (IOException) { }
    }
}
