using System.Text;

namespace Smtpd.Config;

// Top-level settings: hostname, sizes, delays, queue, bounce, pki, ca, srs, smtp, mta, mda wrapper,
// admd, and filter/proc declarations (recorded as written).
public sealed partial class ConfigParser
{
    private void ParseGlobal(TokenCursor c)
    {
        var keyword = c.Take();
        switch (keyword.Text)
        {
            case "hostname":
                settings = settings with { Hostname = c.ExpectValue("hostname") };
                break;
            case "max-message-size":
                settings = settings with { MaxMessageSize = ParseSize(c, "max-message-size") };
                break;
            case "expire":
                settings = settings with { Expire = ParseDelay(c, "expire") };
                break;
            case "queue":
                ParseQueue(c);
                break;
            case "bounce" or "bounce-warn":
                if (keyword.Text == "bounce")
                    c.ExpectKeyword("warn-interval", "bounce");
                ParseBounceWarn(c, keyword);
                break;
            case "pki":
                ParsePki(c, keyword);
                break;
            case "ca":
                string ca = c.ExpectValue("ca");
                if (!c.TryKeyword("cert"))
                    c.ExpectKeyword("certificate", $"ca {ca}");
                cas[ca] = new CaConfig(ca, c.ExpectValue("cert"), keyword.Location);
                break;
            case "srs":
                ParseSrs(c);
                break;
            case "smtp":
                ParseSmtp(c);
                break;
            case "mta":
                c.ExpectKeyword("max-deferred", "mta");
                settings = settings with { MtaMaxDeferred = ParseCount(c, "max-deferred") };
                break;
            case "mda":
                if (!c.TryKeyword("wrapper"))
                    throw new ConfigSyntaxException(c.Peek().Location, c.Peek().IsKeyword("limit")
                        ? "mda limit is not supported yet"
                        : "expected 'mda wrapper NAME COMMAND'");
                string wrapper = c.ExpectValue("mda wrapper");
                mdaWrappers[wrapper] = c.ExpectValue($"mda wrapper {wrapper}");
                break;
            case "tls-policy":
                ParseTlsPolicy(c);
                break;
            case "tls-rpt":
                c.ExpectKeyword("domain", "tls-rpt");
                string rptDomain = c.ExpectValue("tls-rpt domain");
                if (Table.TableValues.HostnameProblem(rptDomain) is { } badDomain)
                    throw new ConfigSyntaxException(c.Previous.Location, $"invalid tls-rpt domain '{rptDomain}': {badDomain}");
                c.ExpectKeyword("contact", $"tls-rpt domain {rptDomain}");
                string contact = c.ExpectValue("contact");
                if (!Smtp.MailAddress.TryParse(contact, allowNoDomain: false, out _))
                    throw new ConfigSyntaxException(c.Previous.Location, $"invalid tls-rpt contact '{contact}': not a mail address");
                settings = settings with { TlsRptDomain = rptDomain, TlsRptContact = contact };
                break;
            case "admd":
                settings = settings with { Admd = c.ExpectValue("admd") };
                break;
            case "filter" or "proc":
                ParseFilterDeclaration(c, keyword);
                return; // takes the rest of the statement
            case "metrics":
                ParseMetrics(c, keyword);
                return;
            case "admin":
                ParseAdmin(c, keyword);
                return;
            case "scheduler":
                throw new ConfigSyntaxException(keyword.Location, "scheduler limit is not supported yet");
            default:
                throw new ConfigSyntaxException(keyword.Location, $"unknown keyword '{keyword.Text}'");
        }
        c.ExpectEnd(keyword.Text);
    }

    /// <summary><c>tls-policy &lt;TABLE&gt;</c> or <c>tls-policy default CHOICE</c> (outbound TLS for MX relaying).</summary>
    private void ParseTlsPolicy(TokenCursor c)
    {
        if (PeekTableRef(c))
        {
            settings = settings with { TlsPolicyTable = ParseTableRef(c, "tls-policy") };
            return;
        }
        if (!c.TryKeyword("default"))
            throw c.Unexpected("tls-policy", "<table> or default");
        // "verify" and "encrypt" are reserved words: the word is read as it stands.
        var value = c.Take();
        if (!value.IsWord)
            throw new ConfigSyntaxException(value.Location, $"missing policy after 'tls-policy default' ({TlsPolicyChoices.Words})");
        if (!TlsPolicyChoices.TryParse(value.Text, out var choice))
            throw new ConfigSyntaxException(value.Location, $"unknown TLS policy '{value.Text}' ({TlsPolicyChoices.Words})");
        settings = settings with { TlsPolicyDefault = choice };
    }

    private void ParseQueue(TokenCursor c)
    {
        if (c.TryKeyword("compression") || c.TryKeyword("compress"))
            settings = settings with { QueueCompression = true };
        else if (c.TryKeyword("encryption") || c.TryKeyword("encrypt"))
        {
            c.TryKeyword("key"); // 5.x: "queue encryption key KEY"
            string? key = c.PeekIsValue() ? c.Take().Text : null;
            if (key is "-" || string.Equals(key, "stdin", StringComparison.OrdinalIgnoreCase))
                key = "stdin";
            settings = settings with { QueueEncryption = true, QueueEncryptionKey = key };
        }
        else if (c.TryKeyword("ttl"))
            settings = settings with { Expire = ParseDelay(c, "queue ttl") };
        else
            throw c.Unexpected("queue", "compression, encryption or ttl");
    }

    private void ParseBounceWarn(TokenCursor c, Token keyword)
    {
        var delays = new List<TimeSpan> { ParseDelay(c, keyword.Text) };
        while (c.TryPunct(TokenKind.Comma))
            delays.Add(ParseDelay(c, ","));
        if (delays.Count > 4)
            throw new ConfigSyntaxException(keyword.Location, "at most four bounce warn-interval delays");
        settings = settings with { BounceWarnIntervals = delays };
    }

    private void ParsePki(TokenCursor c, Token keyword)
    {
        string name = c.ExpectValue("pki");
        var pki = pkis.GetValueOrDefault(name) ?? new PkiConfig(name, null, null, null, keyword.Location);
        if (c.TryKeyword("cert") || c.TryKeyword("certificate"))
            pki = pki with { CertificateFile = c.ExpectValue("cert") };
        else if (c.TryKeyword("key"))
            pki = pki with { KeyFile = c.ExpectValue("key") };
        else if (c.TryKeyword("dhe"))
        {
            string dhe = c.ExpectValue("dhe");
            pki = dhe is "none" or "legacy" or "auto"
                ? pki with { Dhe = dhe }
                : throw new ConfigSyntaxException(c.Previous.Location, $"invalid dhe parameter '{dhe}' (none, legacy or auto)");
        }
        else
            throw c.Unexpected($"pki {name}", "cert, key or dhe");
        pkis[name] = pki;
    }

    private void ParseSrs(TokenCursor c)
    {
        if (c.TryKeyword("key"))
        {
            settings = c.TryKeyword("backup")
                ? settings with { SrsBackupKey = c.ExpectValue("srs key backup") }
                : settings with { SrsKey = c.ExpectValue("srs key") };
        }
        else if (c.TryKeyword("ttl"))
            settings = settings with { SrsTtl = ParseDelay(c, "srs ttl") };
        else
            throw c.Unexpected("srs", "key or ttl");
    }

    private void ParseSmtp(TokenCursor c)
    {
        if (c.TryKeyword("max-message-size"))
            settings = settings with { MaxMessageSize = ParseSize(c, "max-message-size") };
        else if (c.TryKeyword("ciphers"))
            settings = settings with { SmtpCiphers = c.ExpectValue("ciphers") };
        else if (c.TryKeyword("sub-addr-delim"))
        {
            string delim = c.ExpectValue("sub-addr-delim");
            if (delim.Length != 1 || char.IsWhiteSpace(delim[0]) || char.IsControl(delim[0]) || delim[0] == '@')
                throw new ConfigSyntaxException(c.Previous.Location, $"invalid sub-addr-delim '{delim}': one printable character, not '@'");
            settings = settings with { SubAddressDelimiter = delim[0] };
        }
        else if (c.TryKeyword("limit"))
        {
            do
            {
                var limit = c.Take();
                settings = limit.Text switch
                {
                    "max-mails" when limit.IsWord => settings with { MaxMailsPerSession = ParseCount(c, "max-mails") },
                    "max-rcpt" when limit.IsWord => settings with { MaxRecipientsPerTransaction = ParseCount(c, "max-rcpt") },
                    _ => throw new ConfigSyntaxException(limit.Location, $"unknown smtp limit {limit.Display} (max-mails or max-rcpt)"),
                };
            }
            while (!c.AtEnd);
        }
        else
            throw c.Unexpected("smtp", "max-message-size, limit, ciphers or sub-addr-delim");
    }

    private static long ParseSize(TokenCursor c, string after)
    {
        string value = c.ExpectValue(after);
        return ConfigValues.TryParseSize(value, out long bytes)
            ? bytes
            : throw new ConfigSyntaxException(c.Previous.Location, $"invalid size '{value}' (bytes, or a number with K, M or G)");
    }

    private static int ParseCount(TokenCursor c, string after)
    {
        string value = c.ExpectValue(after);
        return int.TryParse(value, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int n) && n > 0
            ? n
            : throw new ConfigSyntaxException(c.Previous.Location, $"invalid number '{value}' after '{after}'");
    }
}
