using System.Globalization;

namespace Smtpd.Queue;

/// <summary>Message and envelope ids: random, printed as 8 and 16 hex digits as OpenSMTPD does.</summary>
public static class QueueIds
{
    public static uint NewMessageId() => SecureRandom.NextNonZeroUInt32();

    public static ulong NewEnvelopeId(uint msgid) => ((ulong)msgid << 32) | SecureRandom.NextNonZeroUInt32();

    public static uint MessageOf(ulong evpid) => (uint)(evpid >> 32);

    public static string Hex(uint msgid) => msgid.ToString("x8", CultureInfo.InvariantCulture);
    public static string Hex(ulong evpid) => evpid.ToString("x16", CultureInfo.InvariantCulture);

    public static bool TryParseMessage(string s, out uint msgid) =>
        s.Length == 8 && uint.TryParse(s, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out msgid)
        || (msgid = 0) != 0;

    public static bool TryParseEnvelope(string s, out ulong evpid) =>
        s.Length == 16 && ulong.TryParse(s, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out evpid)
        || (evpid = 0) != 0;
}
