using System.Text;
using Smtpd.Mda;

namespace Smtpd.Tests.Mda;

public class DeliveredMessageTests
{
    static string Copy(string input, bool escapeFrom)
    {
        var target = new MemoryStream();
        long n = DeliveredMessage.CopyAsLf(new MemoryStream(Encoding.UTF8.GetBytes(input)), target, escapeFrom);
        Assert.Equal(target.Length, n);
        return Encoding.UTF8.GetString(target.ToArray());
    }

    [Fact]
    public void Crlf_becomes_lf_and_nothing_else_changes()
    {
        Assert.Equal("a: b\n\nbody\rwith cr\n", Copy("a: b\r\n\r\nbody\rwith cr\r\n", escapeFrom: false));
        Assert.Equal("From x\n", Copy("From x\r\n", escapeFrom: false));
    }

    [Fact]
    public void Mbox_escapes_from_at_line_start_only()
    {
        Assert.Equal("S: x\n\n>From me\nnot From here\n>From \nFro\nFromage\n", Copy("S: x\r\n\r\nFrom me\r\nnot From here\r\nFrom \r\nFro\r\nFromage\r\n", escapeFrom: true));
        Assert.Equal(">From first\n", Copy("From first\r\n", escapeFrom: true));
    }

    [Fact]
    public void From_line_has_ctime_date_and_mailer_daemon_for_null_sender()
    {
        var when = new DateTime(2026, 11, 4, 19, 3, 6);
        Assert.Equal("From alice@example.org Wed Nov  4 19:03:06 2026\n", MboxDelivery.FromLine("alice@example.org", when));
        Assert.Equal("From MAILER-DAEMON Wed Nov  4 19:03:06 2026\n", MboxDelivery.FromLine("", when));
    }
}
