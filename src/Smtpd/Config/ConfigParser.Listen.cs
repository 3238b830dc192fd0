namespace Smtpd.Config;

public sealed partial class ConfigParser
{
    /// <summary>Listener options kept for later components, with whether each takes an argument.</summary>
    static readonly Dictionary<string, bool> KeptListenOptions = new(StringComparer.Ordinal)
    {
        ["tls"] = false, ["tls-require"] = false, ["smtps"] = false, ["secure"] = false,
        ["auth"] = false, ["auth-optional"] = false, ["mask-src"] = false, ["received-auth"] = false,
        ["no-dsn"] = false, ["inet4"] = false, ["inet6"] = false, ["proxy-v2"] = false,
        ["pki"] = true, ["ca"] = true, ["filter"] = true, ["certificate"] = true, ["senders"] = true,
        ["hostnames"] = true, ["ciphers"] = true, ["protocols"] = true,
    };

    /// <summary><c>listen on IFACE|ADDRESS|socket [port N] [tag T] [hostname H] [options]</c>.</summary>
    void Listen(TokenCursor c)
    {
        var at = c.Location;
        c.Expect("on");
        string iface = c.Value("interface or address");
        if (iface == "socket")
        {
            // The local enqueue socket (smtpctl sendmail) comes with the control socket.
            c.ExpectEnd();
            return;
        }
        int? port = null;
        string? tag = null, hostname = null;
        var options = new List<string>();
        while (!c.AtEnd)
        {
            var optionAt = c.Location;
            string option = c.Value("listen option");
            switch (option)
            {
                case "port":
                    string p = c.Value("port");
                    if (!ConfigValues.TryParsePort(p, out int n)) throw new ConfigSyntaxException(new ConfigError(optionAt, $"invalid port \"{p}\""));
                    port = n;
                    break;
                case "tag": tag = c.Value("tag"); break;
                case "hostname": hostname = c.Value("host name"); break;
                default:
                    if (!KeptListenOptions.TryGetValue(option, out bool takesArgument))
                        throw new ConfigSyntaxException(new ConfigError(optionAt, $"unknown listen option \"{option}\""));
                    if (takesArgument && c.Peek.Kind is TokenKind.Word or TokenKind.String or TokenKind.TableRef)
                        option += " " + (c.Peek.Kind == TokenKind.TableRef ? $"<{c.Next().Text}>" : c.Next().Text);
                    else if (option is "auth" or "auth-optional" && c.Peek.Kind == TokenKind.TableRef)
                        option += $" <{UseTable(c, option)}>";
                    else if (takesArgument)
                        throw new ConfigSyntaxException(new ConfigError(optionAt, $"listen option \"{option}\" needs an argument"));
                    if (option.StartsWith("smtps", StringComparison.Ordinal) && port is null) port = 465;
                    options.Add(option);
                    break;
            }
        }
        _listeners.Add(new ListenerConfig(iface, port, tag, hostname, at) { Options = options });
    }
}
