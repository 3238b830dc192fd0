namespace Smtpd.Smtp;

/// <summary>The argument of MAIL FROM: / RCPT TO:, split into the address and its ESMTP parameters.</summary>
public sealed record MailPath(MailAddress Address, IReadOnlyDictionary<string, string?> Parameters)
{
    /// <summary>
    /// Parses <c>&lt;addr&gt; [KEY[=VALUE] ...]</c> after the colon. Liberal in one way real
    /// clients need: a space between the colon and the bracket is allowed. With
    /// <paramref name="localDomain"/>, an address without a domain (<c>&lt;alice&gt;</c>) is a
    /// local one and gets that domain, as OpenSMTPD's smtp_mailaddr() gives it the session's
    /// name; without it, only <c>RCPT TO:&lt;postmaster&gt;</c> may lack a domain.
    /// </summary>
    public static bool TryParse(string args, bool isSender, out MailPath path, string? localDomain = null)
    {
        path = new MailPath(MailAddress.Null, new Dictionary<string, string?>());
        args = args.TrimStart(' ', '\t'); // smtp_session.c skips any white space after the colon
        if (args.Length < 2 || args[0] != '<') return false;
        int close = args.IndexOf('>');
        if (close < 0) return false;
        string inner = args[1..close];
        // A source route (<@relay1,@relay2:user@domain>) is obsolete: RFC 5321 4.1.1.3 and C.
        // say to ignore it and deliver by the final address, which is what relay checks see.
        if (inner.StartsWith('@'))
        {
            int colon = inner.IndexOf(':');
            if (colon < 0) return false;
            inner = inner[(colon + 1)..];
            if (inner.Length == 0) return false;
        }

        MailAddress address;
        if (inner.Length == 0)
        {
            if (!isSender) return false;
            address = MailAddress.Null;
        }
        else if (!MailAddress.TryParse(inner, allowNoDomain: true, out address))
            return false;
        if (!address.IsNull && address.Domain.Length == 0)
        {
            if (localDomain is not null)
            {
                if (!MailAddress.IsValidDomain(localDomain)) return false;
                address = address with { Domain = localDomain };
            }
            // RCPT TO:<postmaster> without a domain is the only domainless recipient allowed (RFC 5321 4.1.1.3).
            else if (isSender || !address.User.Equals("postmaster", StringComparison.OrdinalIgnoreCase))
                return false;
        }

        var parameters = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        foreach (var word in args[(close + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            int eq = word.IndexOf('=');
            string key = eq < 0 ? word : word[..eq];
            if (key.Length == 0 || !key.All(c => char.IsAsciiLetterOrDigit(c) || c == '-')) return false;
            parameters[key] = eq < 0 ? null : word[(eq + 1)..];
        }
        path = new MailPath(address, parameters);
        return true;
    }
}
