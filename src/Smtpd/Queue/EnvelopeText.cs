using System.Globalization;
using System.Text;

namespace Smtpd.Queue;

/// <summary>
/// Reads and writes envelopes as OpenSMTPD's version 3 <c>key: value</c> text, so an admin can
/// <c>cat</c> one from the spool. Unknown keys are ignored on load, so files written by a newer
/// version still load.
/// </summary>
public static class EnvelopeText
{
    public const int Version = 3;

    static readonly long MaxUnixSeconds = DateTimeOffset.MaxValue.ToUnixTimeSeconds();

    public static string Format(Envelope e)
    {
        var sb = new StringBuilder(512);
        void Put(string key, string? value)
        {
            if (value is null) return;
            // One line per key: a value can never carry a newline into the file.
            sb.Append(key).Append(": ").Append(value.Replace('\n', ' ').Replace('\r', ' ')).Append('\n');
        }

        Put("version", Version.ToString(CultureInfo.InvariantCulture));
        Put("dispatcher", e.Dispatcher);
        Put("tag", e.Tag);
        Put("type", TypeName(e.Type));
        Put("smtpname", e.SmtpName);
        Put("helo", e.Helo);
        Put("hostname", e.Hostname);
        Put("username", e.Username);
        Put("errorline", e.ErrorLine);
        Put("sockaddr", e.SockAddr);
        Put("sender", e.Sender);
        Put("rcpt", e.Rcpt);
        Put("dest", e.Dest);
        Put("ctime", e.CreationTime.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture));
        Put("last-try", (e.LastTry?.ToUnixTimeSeconds() ?? 0).ToString(CultureInfo.InvariantCulture));
        Put("last-bounce", (e.LastBounce?.ToUnixTimeSeconds() ?? 0).ToString(CultureInfo.InvariantCulture));
        Put("ttl", e.Ttl.ToString(CultureInfo.InvariantCulture));
        Put("retry", e.Retry.ToString(CultureInfo.InvariantCulture));
        Put("dsn-notify", ((int)e.DsnNotify).ToString(CultureInfo.InvariantCulture));
        Put("dsn-ret", e.DsnRet);
        Put("dsn-envid", e.DsnEnvid);
        Put("dsn-orcpt", e.DsnOrcpt);
        if (e.EscClass != 0)
        {
            // As OpenSMTPD: both only once a failure has set the class.
            Put("esc-class", e.EscClass.ToString(CultureInfo.InvariantCulture));
            Put("esc-code", e.EscCode.ToString(CultureInfo.InvariantCulture));
        }
        if (e.Type == EnvelopeType.Mda)
        {
            Put("mda-subaddress", e.MdaSubaddress);
            Put("mda-user", e.MdaUser);
            Put("mda-method", e.MdaMethod);
            Put("mda-target", e.MdaTarget);
        }
        // Ours (OpenSMTPD has no quarantine), only while held; older readers skip the key.
        Put("quarantine", e.Quarantine);
        return sb.ToString();
    }

    /// <summary>Parses an envelope file; throws <see cref="FormatException"/> if it is corrupt.</summary>
    public static Envelope Parse(ulong id, string text)
    {
        var fields = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var rawLine in text.Split('\n'))
        {
            if (rawLine.Length == 0) continue;
            int colon = rawLine.IndexOf(": ", StringComparison.Ordinal);
            if (colon <= 0)
            {
                // "key:" with an empty value is written as "key: " and may lose its trailing space.
                if (rawLine.EndsWith(':')) { fields[rawLine[..^1]] = ""; continue; }
                throw new FormatException($"malformed line: {rawLine}");
            }
            fields[rawLine[..colon]] = rawLine[(colon + 2)..];
        }

        string Req(string key) => fields.TryGetValue(key, out var v) ? v : throw new FormatException($"missing {key}");
        string? Opt(string key) => fields.TryGetValue(key, out var v) && v.Length > 0 ? v : null;
        long Num(string key) => long.TryParse(Req(key), NumberStyles.None, CultureInfo.InvariantCulture, out var n)
            ? n : throw new FormatException($"bad number in {key}");
        // Times past year 9999 made DateTimeOffset throw ArgumentOutOfRangeException, which the
        // queue walk does not expect of a corrupt file (found by fuzzing).
        long Seconds(string key) => Num(key) is var n && n <= MaxUnixSeconds ? n : throw new FormatException($"time out of range in {key}");
        // Lines older versions of ours did not write are optional.
        byte Byte(string key) => !fields.ContainsKey(key) ? (byte)0
            : Num(key) is var b && b <= byte.MaxValue ? (byte)b : throw new FormatException($"{key} out of range");
        DateTimeOffset? Time(string key) => fields.ContainsKey(key) && Seconds(key) > 0
            ? DateTimeOffset.FromUnixTimeSeconds(Seconds(key)) : null;

        if (Num("version") != Version)
            throw new FormatException($"unsupported envelope version {Req("version")}");

        long ctime = Seconds("ctime");
        // The expiry, ctime + ttl, must be a time too; the scheduler computes it.
        long ttl = Num("ttl") is var t && t <= MaxUnixSeconds - ctime ? t : throw new FormatException("ttl out of range");
        // Format writes an int: a larger count read here wrapped and was written back negative.
        int retry = Num("retry") is var r && r <= int.MaxValue ? (int)r : throw new FormatException("retry out of range");

        return new Envelope
        {
            Id = id,
            Dispatcher = Req("dispatcher"),
            Type = ParseType(Req("type")),
            Tag = Opt("tag"),
            SmtpName = Opt("smtpname") ?? "",
            Helo = Opt("helo") ?? "",
            Hostname = Opt("hostname") ?? "",
            Username = Opt("username"),
            ErrorLine = Opt("errorline"),
            SockAddr = Opt("sockaddr") ?? "",
            Sender = fields.GetValueOrDefault("sender") ?? throw new FormatException("missing sender"),
            Rcpt = Req("rcpt"),
            Dest = Req("dest"),
            CreationTime = DateTimeOffset.FromUnixTimeSeconds(ctime),
            LastTry = Time("last-try"),
            LastBounce = Time("last-bounce"),
            Ttl = ttl,
            Retry = retry,
            MdaSubaddress = Opt("mda-subaddress"),
            MdaUser = Opt("mda-user"),
            MdaMethod = Opt("mda-method"),
            MdaTarget = Opt("mda-target"),
            DsnNotify = fields.ContainsKey("dsn-notify") ? (DsnNotify)(byte)Num("dsn-notify") : DsnNotify.None,
            EscClass = Byte("esc-class"),
            EscCode = Byte("esc-code"),
            DsnRet = Opt("dsn-ret"),
            DsnEnvid = Opt("dsn-envid"),
            DsnOrcpt = Opt("dsn-orcpt"),
            // Present, even empty, means held: a reason lost to an editor must not release the mail.
            Quarantine = fields.GetValueOrDefault("quarantine"),
        };
    }

    static string TypeName(EnvelopeType t) => t switch
    {
        EnvelopeType.Mda => "mda",
        EnvelopeType.Mta => "mta",
        _ => "bounce",
    };

    static EnvelopeType ParseType(string s) => s switch
    {
        "mda" => EnvelopeType.Mda,
        "mta" => EnvelopeType.Mta,
        "bounce" => EnvelopeType.Bounce,
        _ => throw new FormatException($"unknown envelope type {s}"),
    };
}
