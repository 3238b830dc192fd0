using System.Text;
using Smtpd.Mda;

namespace Smtpd.Tests.Mda;

/// <summary>
/// Maildir deliveries through the filesystem's group commit: many at once, each reported Ok only
/// once its file is in new/ (whole, nothing left in tmp/), and the flushes are the shared ones.
/// </summary>
public sealed class MaildirGroupCommitTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("maildir-gc-").FullName;
    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task Concurrent_deliveries_each_end_whole_in_new_after_shared_flushes()
    {
        var me = new SystemUser(Environment.UserName, SystemUsers.IsRoot ? 0u : 1000u, SystemUsers.IsRoot ? 0u : 1000u, _dir, "/bin/sh");
        string maildir = Path.Combine(_dir, "Maildir");
        var delivery = new MaildirDelivery();
        Directory.CreateDirectory(maildir);
        long before = GroupSync.For(maildir).Flushes;

        var outcomes = await Task.WhenAll(Enumerable.Range(0, 12).Select(i => delivery.DeliverAsync(
            new DeliveryRequest(() => new MemoryStream(Encoding.ASCII.GetBytes($"Subject: {i}\r\n\r\nbody {i}\r\n")),
                "a@example.org", $"u{i}@example.org", $"u{i}@example.org", me, maildir), CancellationToken.None)))
            .WaitAsync(TimeSpan.FromSeconds(60));

        Assert.All(outcomes, o => Assert.True(o.IsOk, o.ToString()));
        Assert.Empty(Directory.GetFiles(Path.Combine(maildir, "tmp")));
        var files = Directory.GetFiles(Path.Combine(maildir, "new"));
        Assert.Equal(12, files.Length);
        foreach (var f in files)
        {
            string text = File.ReadAllText(f);
            Assert.Matches(@"Subject: (\d+)\n\nbody \1\n$", text);
            Assert.EndsWith($",S={new FileInfo(f).Length}", f); // the size in the name is the file's
        }
        Assert.True(GroupSync.For(maildir).Flushes - before >= 2, "each delivery waits for two flushes");
    }

    [Fact]
    public async Task Deliveries_racing_to_make_a_missing_Maildir_all_succeed()
    {
        // The first deliveries into a Maildir that does not exist yet make it; one that finds tmp/
        // made by another must also find new/ (CI once saw "stat .../new: No such file").
        var me = new SystemUser(Environment.UserName, SystemUsers.IsRoot ? 0u : 1000u, SystemUsers.IsRoot ? 0u : 1000u, _dir, "/bin/sh");
        var delivery = new MaildirDelivery();
        for (int round = 0; round < 40; round++)
        {
            string maildir = Path.Combine(_dir, $"Maildir{round}");
            var outcomes = await Task.WhenAll(Enumerable.Range(0, 8).Select(i => Task.Run(() => delivery.DeliverAsync(
                new DeliveryRequest(() => new MemoryStream(Encoding.ASCII.GetBytes($"Subject: {i}\r\n\r\nbody\r\n")),
                    "a@example.org", "u@example.org", "u@example.org", me, maildir), CancellationToken.None))))
                .WaitAsync(TimeSpan.FromSeconds(60));
            Assert.All(outcomes, o => Assert.True(o.IsOk, o.ToString()));
            Assert.Equal(8, Directory.GetFiles(Path.Combine(maildir, "new")).Length);
            Assert.True(Directory.Exists(Path.Combine(maildir, "cur")));
        }
    }
}
