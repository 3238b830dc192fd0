using Smtpd.Queue;

namespace Smtpd.Tests.Queue;

public class SecureRandomTests
{
    [Fact]
    public void Ids_are_never_zero_and_do_not_repeat()
    {
        var messages = new HashSet<uint>();
        var sessions = new HashSet<ulong>();
        for (int i = 0; i < 10_000; i++)
        {
            uint msgid = QueueIds.NewMessageId();
            Assert.NotEqual(0u, msgid);
            ulong evpid = QueueIds.NewEnvelopeId(msgid);
            Assert.Equal(msgid, QueueIds.MessageOf(evpid));
            Assert.NotEqual(0u, (uint)evpid);
            messages.Add(msgid);
            sessions.Add(SecureRandom.NextUInt64());
        }
        // 10,000 draws from 2^32 collide with probability about 1%: allow a couple.
        Assert.True(messages.Count >= 9_997, $"{10_000 - messages.Count} repeated message ids");
        Assert.Equal(10_000, sessions.Count);
    }

    [Fact]
    public void Every_byte_value_turns_up_and_hex_has_the_asked_length()
    {
        var seen = new bool[256];
        var buffer = new byte[4096];
        SecureRandom.Fill(buffer);
        foreach (byte b in buffer) seen[b] = true;
        Assert.All(seen, Assert.True);   // 4096 uniform bytes miss a value with probability ~2e-5
        string hex = SecureRandom.Hex(8);
        Assert.Matches("^[0-9a-f]{16}$", hex);
        Assert.NotEqual(hex, SecureRandom.Hex(8));
    }
}
