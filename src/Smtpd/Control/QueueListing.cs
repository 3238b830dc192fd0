using System.Globalization;
using Smtpd.Control.Json;

namespace Smtpd.Control;

/// <summary>
/// <c>smtpctl show queue</c> lines, in OpenSMTPD's format, so that admin scripts keep working:
/// <c>evpid|src|agent|flags|sender|rcpt|dest|creation|expire|lasttry|retry|runstate|error</c>.
/// </summary>
public static class QueueListing
{
    public static string Line(QueueEntry e) => string.Join('|',
        e.Id, e.Src, e.Agent, string.Join(',', e.Flags),
        Address(e.Sender), Address(e.Rcpt), Address(e.Dest),
        e.Creation.ToString(CultureInfo.InvariantCulture),
        e.Expire.ToString(CultureInfo.InvariantCulture),
        (e.LastTry ?? 0).ToString(CultureInfo.InvariantCulture),
        e.Retry.ToString(CultureInfo.InvariantCulture),
        e.State, e.StateSeconds.ToString(CultureInfo.InvariantCulture),
        Printable(e.LastError ?? ""));

    static string Address(string a) => a.Contains('@') ? a : a + "@";
    static string Printable(string s) => new(s.Select(c => c < 0x20 ? ' ' : c).ToArray());
}
