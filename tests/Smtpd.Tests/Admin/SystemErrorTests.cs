using System.Net;
using System.Net.Sockets;
using Smtpd.Tests.Control;
using Smtpd.Tests.EndToEnd;

namespace Smtpd.Tests.Admin;

// Issue 18, item 15: a delivery that fails on the file system says why in the words OpenSMTPD
// uses (strerror), with the path, whatever the build did to .NET's own messages (the daemon is
// built with UseSystemResourceKeys, which turns them into resource keys).
public sealed class SystemErrorTests
{
    static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    [Fact]
    public void Real_failed_calls_read_as_strerror_with_their_path()
    {
        string dir = Directory.CreateTempSubdirectory("syserr-").FullName;
        try
        {
            string missing = Path.Combine(dir, "missing");
            var notFound = Assert.ThrowsAny<IOException>(() => File.OpenRead(missing));
            Assert.Equal($"{missing}: No such file or directory", Smtpd.SystemErrors.Describe(notFound));

            // ELOOP has no exception type of its own: .NET keeps the errno in the HResult.
            string a = Path.Combine(dir, "a"), b = Path.Combine(dir, "b");
            File.CreateSymbolicLink(a, b);
            File.CreateSymbolicLink(b, a);
            var loop = Assert.ThrowsAny<IOException>(() => File.OpenRead(a));
            Assert.Equal("Too many levels of symbolic links", Smtpd.SystemErrors.Cause(loop));
        }
        finally { Directory.Delete(dir, recursive: true); }

        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        var refused = Assert.Throws<SocketException>(() => socket.Connect(IPAddress.Loopback, SmtpdInstance.FreePort()));
        Assert.Equal("Connection refused", Smtpd.SystemErrors.Describe(refused));
    }

    // client --SMTP--> smtpd (root) --delivery process as smtpdtest--> maildir under a directory
    // smtpdtest may not write: EACCES. The log line and `smtpctl show queue` name the cause and
    // the path, as OpenSMTPD 6.8 names the cause ("mail.maildir: Permission denied").
    [SkippableFact]
    public async Task A_maildir_the_recipient_may_not_write_says_permission_denied_and_the_path()
    {
        Skip.IfNot(TestUsers.IsRoot, "needs root: the delivery must run as another user than the directory's owner");
        Skip.IfNot((await ExternalTool.RunAsync("id", [TestUsers.Ordinary])).Code == 0, $"user {TestUsers.Ordinary} does not exist (tests/install-peers.sh creates it)");
        await using var smtpd = new SmtpdInstance("""
            listen on 127.0.0.1 port {port}
            action "local" maildir "{dir}/locked/%{user.username}"
            match from any for local action "local"
            """);
        string locked = Path.Combine(smtpd.Dir, "locked");
        Directory.CreateDirectory(locked);
        File.SetUnixFileMode(locked, (UnixFileMode)0b111_101_101); // root's, 0755
        await smtpd.StartAsync();

        string reply = await SmtpDialogue.TryDeliverAsync(smtpd.Port, "someone@example.org", $"{TestUsers.Ordinary}@localhost", "locked out", "body");
        Assert.StartsWith("250", reply);
        string target = Path.Combine(locked, TestUsers.Ordinary);
        await smtpd.WaitForLogAsync("result=TempFail", Timeout);
        string line = smtpd.Log.Split('\n').First(l => l.Contains("result=TempFail"));
        Assert.Contains($"stat=maildir {target}: Permission denied", line);
        Assert.DoesNotContain("UnauthorizedAccess", smtpd.Log);

        // The queue records the failure just after the log line.
        var queued = Assert.Single(await Smtpctl.QueueAsync(smtpd));
        for (var deadline = DateTime.UtcNow + Timeout; queued[^1].Length == 0 && DateTime.UtcNow < deadline; await Task.Delay(100))
            queued = Assert.Single(await Smtpctl.QueueAsync(smtpd));
        Assert.Equal($"maildir {target}: Permission denied", queued[^1].Trim('"'));
    }
}
