using System.Globalization;
using Smtpd.Queue;
using Smtpd.Scheduler;

namespace Smtpd.Control;

/// <summary>
/// <c>smtpctl show queue</c> lines, in OpenSMTPD's format, so that admin scripts keep working:
/// <c>evpid|src|agent|flags|sender|rcpt|dest|creation|expire|lasttry|retry|runstate|error</c>.
/// </summary>
public static class QueueListing
{
    public static string Line(Envelope e, ScheduledEnvelope s, DateTimeOffset now)
    {
        string src = e.SockAddr is "local" or "" ? "local" : e.SockAddr.Contains(':') ? "inet6" : "inet4";
        string agent = e.Type switch { EnvelopeType.Mda => "mda", EnvelopeType.Mta => "mta", _ => "bounce" };
        var flags = new List<string>();
        if (e.Sender.Length == 0) flags.Add("bounce");
        if (e.Username is not null) flags.Add("auth");
        if (s.Suspended) flags.Add("suspend");
        string runstate = s.State switch
        {
            "inflight" => $"inflight|{Seconds(now - s.Due)}",
            _ => $"pending|{Seconds(s.Due - now)}",
        };
        return string.Join('|',
            $"{e.Id:x16}", src, agent, string.Join(',', flags),
            Address(e.Sender), Address(e.Rcpt), Address(e.Dest),
            e.CreationTime.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture),
            (e.CreationTime.ToUnixTimeSeconds() + e.Ttl).ToString(CultureInfo.InvariantCulture),
            (e.LastTry?.ToUnixTimeSeconds() ?? 0).ToString(CultureInfo.InvariantCulture),
            e.Retry.ToString(CultureInfo.InvariantCulture),
            runstate,
            Printable(e.ErrorLine ?? ""));
    }

    static string Address(string a) => a.Contains('@') ? a : a + "@";
    static long Seconds(TimeSpan t) => (long)Math.Max(0, t.TotalSeconds);
    static string Printable(string s) => new(s.Select(c => c < 0x20 ? ' ' : c).ToArray());
}
