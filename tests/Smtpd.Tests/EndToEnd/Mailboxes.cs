namespace Smtpd.Tests.EndToEnd;

/// <summary>Reads what a test's deliveries left in maildirs and mboxes, waiting (bounded) for them.</summary>
public static class Mailboxes
{
    public static async Task<string[]> WaitForMaildirAsync(string maildir, int count, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        string newDir = Path.Combine(maildir, "new");
        while (true)
        {
            var files = Directory.Exists(newDir) ? Directory.GetFiles(newDir) : [];
            if (files.Length >= count || DateTime.UtcNow > deadline) return files;
            await Task.Delay(50);
        }
    }

    public static async Task<string> WaitForMboxAsync(string mbox, int messages, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            string text = await ReadMboxAsync(mbox);
            if (CountMboxMessages(text) >= messages || DateTime.UtcNow > deadline) return text;
            await Task.Delay(50);
        }
    }

    /// <summary>
    /// Reads a mailbox as a mail reader would: while a delivery holds its flock, .NET's shared
    /// open fails, so wait and read again (bounded).
    /// </summary>
    public static async Task<string> ReadMboxAsync(string mbox)
    {
        for (int attempt = 0; ; attempt++)
        {
            try { return File.Exists(mbox) ? await File.ReadAllTextAsync(mbox) : ""; }
            catch (IOException) when (attempt < 200) { await Task.Delay(25); }
        }
    }

    public static int CountMboxMessages(string text) =>
        text.Split('\n').Count(l => l.StartsWith("From ", StringComparison.Ordinal));

    /// <summary>The test users: as root three real system users (none of them root: smtpd never delivers as root); otherwise ourself, three times by sub-address.</summary>
    public static string[] ThreeRecipients(out string[] users)
    {
        if (Environment.UserName == "root")
        {
            users = [TestUsers.Ordinary, "daemon", "nobody"];
            return users.Select(u => $"{u}@localhost").ToArray();
        }
        string me = TestUsers.Recipient;
        users = [me, me, me];
        return [$"{me}+one@localhost", $"{me}+two@localhost", $"{me}+three@localhost"];
    }
}
