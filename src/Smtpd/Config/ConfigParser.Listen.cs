namespace Smtpd.Config;

// listen on IFACE|ADDRESS|socket [options]: port, tag and hostname are typed; every other option is
// kept as written in ListenerConfig.Options for the components that implement it.
public sealed partial class ConfigParser
{
    private void ParseListen(TokenCursor c)
    {
        var keyword = c.Take();
        c.ExpectKeyword("on", "listen");
        bool socket = c.TryKeyword("socket");
        string iface = socket ? "socket" : c.ExpectValue("listen on");
        int? port = null;
        string? tag = null, hostname = null;
        var options = new List<string>();
        bool tlsMode = false;

        void Once(bool already, string what)
        {
            if (already)
                throw new ConfigSyntaxException(c.Previous.Location, $"{what} already specified");
        }

        while (!c.AtEnd)
        {
            var option = c.Peek();
            if (!option.IsWord || option.Quoted)
                throw c.Unexpected("listen", null);
            c.Take();
            string o = option.Text;
            switch (o)
            {
                case "port":
                    Once(port is not null, "port");
                    // "smtp" and "smtps" are reserved words but also port names.
                    string value = c.Peek().IsKeyword("smtp") || c.Peek().IsKeyword("smtps") ? c.Take().Text : c.ExpectValue("port");
                    port = ConfigValues.TryParsePort(value, out int p)
                        ? p
                        : throw new ConfigSyntaxException(c.Previous.Location, $"invalid port '{value}'");
                    break;
                case "tag":
                    Once(tag is not null, "tag");
                    tag = c.ExpectValue("tag");
                    break;
                case "hostname":
                    Once(hostname is not null, "hostname");
                    hostname = c.ExpectValue("hostname");
                    break;
                case "filter":
                    // "filter { a, b }" is an anonymous chain, as in OpenSMTPD.
                    string filter = c.Peek().Kind == TokenKind.LeftBrace ? AddAnonymousChain(c, option) : c.ExpectValue("filter");
                    if (!filters.ContainsKey(filter))
                        throw new ConfigSyntaxException(c.Previous.Location, $"undefined filter '{filter}'");
                    options.Add($"filter {filter}");
                    break;
                case "mask-src" or "no-dsn":
                    options.Add(o);
                    break;
                case "inet4" or "inet6" or "tls" or "tls-require" or "smtps" or "ssl" or "auth" or "auth-optional"
                    or "pki" or "ca" or "certificate" or "senders" or "hostnames" or "received-auth" or "proxy-v2"
                    or "protocols" or "ciphers" when !socket:
                    options.Add(ParseInterfaceOption(c, option, options, ref tlsMode));
                    break;
                default:
                    throw new ConfigSyntaxException(option.Location,
                        $"unknown keyword '{o}' in listen on {(socket ? "socket" : iface)}");
            }
        }
        listeners.Add(new ListenerConfig(iface, port, tag, hostname, keyword.Location)
        {
            IsSocket = socket,
            Options = options,
        });
    }

    /// <summary>An option of a network listener, returned as it will be recorded.</summary>
    private string ParseInterfaceOption(TokenCursor c, Token option, List<string> options, ref bool tlsMode)
    {
        string o = option.Text;
        switch (o)
        {
            case "inet4" or "inet6":
                if (options.Contains("inet4") || options.Contains("inet6"))
                    throw new ConfigSyntaxException(option.Location, "address family already specified");
                return o;
            case "tls" or "tls-require" or "smtps" or "ssl":
                if (tlsMode)
                    throw new ConfigSyntaxException(option.Location, "TLS mode already specified");
                tlsMode = true;
                return o != "tls" && o != "ssl" && c.TryKeyword("verify") ? $"{o} verify" : o;
            case "auth" or "auth-optional":
                if (options.Any(x => x.StartsWith("auth", StringComparison.Ordinal)))
                    throw new ConfigSyntaxException(option.Location, "auth already specified");
                return PeekTableRef(c) ? $"{o} <{ParseTableRef(c, o)}>" : o;
            case "pki":
                string pki = c.ExpectValue("pki");
                if (!pkis.ContainsKey(pki))
                    throw new ConfigSyntaxException(c.Previous.Location, $"undefined pki '{pki}'");
                return $"pki {pki}";
            case "ca":
                string ca = c.ExpectValue("ca");
                if (!cas.ContainsKey(ca))
                    throw new ConfigSyntaxException(c.Previous.Location, $"undefined ca '{ca}'");
                return $"ca {ca}";
            case "senders":
                string senders = $"senders <{ParseTableRef(c, "senders")}>";
                return c.TryKeyword("masquerade") ? $"{senders} masquerade" : senders;
            case "hostnames":
                return $"hostnames <{ParseTableRef(c, "hostnames")}>";
            case "certificate" or "protocols" or "ciphers":
                return $"{o} {c.ExpectValue(o)}";
            default:
                return o; // received-auth, proxy-v2
        }
    }
}
