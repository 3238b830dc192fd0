using System.Globalization;
using Smtpd.Stats;

namespace Smtpd.Control;

/// <summary>The counters <c>smtpctl monitor</c> shows, as OpenSMTPD's stat_digest.</summary>
public readonly record struct Digest(long Connect, long Disconnect, long Enqueued, long Dequeued,
    long Ok, long TempFail, long PermFail, long Loop, long Expired, long Removed, long Bounce)
{
    public static Digest From(IReadOnlyDictionary<string, StatValue> s)
    {
        long V(string k) => s.TryGetValue(k, out var v) ? v.Value : 0;
        return new(V(StatKeys.SmtpConnect), V(StatKeys.SmtpDisconnect), V(StatKeys.EnvelopeEnqueued), V(StatKeys.EnvelopeDequeued),
            V(StatKeys.DeliveryOk), V(StatKeys.DeliveryTempFail), V(StatKeys.DeliveryPermFail), V(StatKeys.DeliveryLoop),
            V(StatKeys.EnvelopeExpired), V(StatKeys.EnvelopeRemoved), V(StatKeys.Bounce));
    }

    /// <summary>Current values and what happened since <paramref name="last"/>, in monitor's columns.</summary>
    public string Line(Digest last) => string.Format(CultureInfo.InvariantCulture,
        "{0,4} {1,4} {2,4}  {3,4} {4,4} {5,4} {6,4}    {7,4}    {8,4} {9,4}   {10,4}   {11,4}   {12,4}",
        Connect - Disconnect, Connect - last.Connect, Disconnect - last.Disconnect,
        Enqueued - Dequeued, Enqueued - last.Enqueued, Dequeued - last.Dequeued,
        Ok - last.Ok, TempFail - last.TempFail, PermFail - last.PermFail, Loop - last.Loop,
        Expired - last.Expired, Removed - last.Removed, Bounce - last.Bounce);
}
