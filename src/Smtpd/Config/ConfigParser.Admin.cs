using System.Net;

namespace Smtpd.Config;

// admin listen on ADDRESS port PORT auth <TABLE> [tls pki NAME]
public sealed partial class ConfigParser
{
    private void ParseAdmin(TokenCursor c, Token keyword)
    {
        if (settings.Admin is not null)
            throw new ConfigSyntaxException(keyword.Location, "admin listen on given twice");
        var (text, address, _, port) = ParseHttpListenHead(c, "admin");
        // The page can remove mail: it is never served without credentials.
        if (!c.TryKeyword("auth"))
            throw new ConfigSyntaxException(c.Peek().Location,
                $"admin listen on {text}: 'auth <table>' is required (the admin page is never served without authentication)");
        string table = ParseTableRef(c, "auth");
        string? pki = null;
        if (c.TryKeyword("tls"))
        {
            c.ExpectKeyword("pki", "tls");
            pki = c.ExpectValue("pki");
            if (!pkis.ContainsKey(pki))
                throw new ConfigSyntaxException(c.Previous.Location, $"undefined pki '{pki}'");
        }
        c.ExpectEnd("admin listen on");
        settings = settings with { Admin = new AdminListenerConfig(address, port, table, pki, keyword.Location) };
    }
}
