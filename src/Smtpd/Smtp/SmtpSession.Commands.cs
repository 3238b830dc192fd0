using System.Globalization;
using Smtpd.Lookup;
using Smtpd.Smtp.Tls;

namespace Smtpd.Smtp;

public sealed partial class SmtpSession
{
    /// <summary>Dispatches one command line to its verb's handler; returns the reply to send.</summary>
    Task<Reply?> HandleCommandAsync(string line)
    {
        int space = line.IndexOf(' ');
        string verb = (space < 0 ? line : line[..space]).ToUpperInvariant();
        string args = space < 0 ? "" : line[(space + 1)..].Trim();
        if (_filters is null) return DispatchAsync(verb, args);
        // An AUTH initial response is a credential: filters see it masked, as in OpenSMTPD.
        _filters.Report("protocol-client", verb == "AUTH" && args.Contains(' ') ? $"AUTH {args.Split(' ')[0]} ********" : line);
        return FilteredCommandAsync(verb, args);
    }

    /// <summary>Runs the verb's handler.</summary>
    async Task<Reply?> DispatchAsync(string verb, string args)
    {
        // "MAIL FROM:" and "RCPT TO:" carry their keyword in the verb's argument.
        return verb switch
        {
            "HELO" => Helo(args, esmtp: false),
            "EHLO" => Helo(args, esmtp: true),
            "STARTTLS" => await StartTlsAsync(args),
            "AUTH" => await AuthAsync(args),
            "MAIL" => await MailAsync(args),
            "RCPT" => await RcptAsync(args),
            "DATA" => await DataAsync(args),
            "RSET" => Rset(args),
            "NOOP" => Replies.Ok,
            "HELP" => Replies.Help,
            "VRFY" => Replies.VrfyDisabled,
            "EXPN" => Replies.ExpnDisabled,
            "QUIT" => Quit(args),
            _ => Replies.Unrecognized(Printable(verb.Length > 32 ? verb[..32] : verb)),
        };
    }

    Reply Helo(string args, bool esmtp)
    {
        string verb = esmtp ? "EHLO" : "HELO";
        string domain = args.Split(' ', 2)[0];
        if (domain.Length == 0) return Replies.HeloNoDomain(verb);
        if (!MailAddress.IsValidDomain(domain)) return Replies.HeloSyntax(verb);
        // A new HELO/EHLO resets the session state (RFC 5321 4.1.4).
        _helo = domain;
        _esmtp = esmtp;
        _tx = null;
        _ctx.Log.Debug($"{Id:x16} smtp {verb} {domain}");
        return esmtp
            ? Replies.Ehlo(_smtpName, domain, ClientAddress, _ctx.Ruleset.MaxMessageSize,
                startTls: _tls is null && _setup.Security.Tls is TlsMode.StartTls or TlsMode.StartTlsRequired, auth: AdvertisesAuth, dsn: DsnEnabled)
            : Replies.Hello(_smtpName, domain, ClientAddress);
    }

    async ValueTask<Reply> MailAsync(string args)
    {
        // "MAIL FROM:" is the verb: "MAIL" alone or "MAIL TO:" is no command at all (as OpenSMTPD reads it).
        if (!args.StartsWith("FROM:", StringComparison.OrdinalIgnoreCase)) return Replies.Unrecognized("MAIL");
        if (_helo is null) return Replies.HeloFirst;
        if (_tx is not null) return Replies.NestedMail;
        if (_mailCount >= _ctx.Ruleset.MaxMailsPerSession) return Replies.TooManyMessages;
        // A sender or recipient without a domain is local: it gets the session's name (smtp_mailaddr).
        if (!MailPath.TryParse(args[5..], isSender: true, out var path, _smtpName)) return Replies.SenderSyntax;
        if (BoundSender is { } bound && !path.Address.ToString().Equals(bound, StringComparison.OrdinalIgnoreCase))
        {
            // A local user who is not trusted sends as themselves (issue 7; our client does the same).
            _ctx.Log.Info($"{Id:x16} smtp local-sender claimed=<{Printable(path.Address.ToString())}> sender=<{bound}>");
            // A host name that makes no address must not turn into the null sender.
            if (!MailAddress.TryParse(bound, allowNoDomain: false, out var own)) return Replies.TempFailure;
            path = path with { Address = own };
        }
        if (await CheckMailPolicyAsync(path.Address) is { } refused) return refused;

        long declared = 0;
        foreach (var (key, value) in path.Parameters)
        {
            switch (key.ToUpperInvariant())
            {
                case "SIZE" when _esmtp:
                    if (!long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out long size)) return Replies.SyntaxError;
                    if (size > _ctx.Ruleset.MaxMessageSize) return Replies.MessageTooBig;
                    declared = size;
                    break;
                case "BODY" when _esmtp:
                    if (value is null || !(value.Equals("7BIT", StringComparison.OrdinalIgnoreCase) || value.Equals("8BITMIME", StringComparison.OrdinalIgnoreCase)))
                        return Replies.UnsupportedParameter(key);
                    break;
                case "RET" when _esmtp && DsnEnabled:
                    if (!Dsn.IsValidRet(value)) return Replies.BadDsnParameter("RET");
                    break;
                case "ENVID" when _esmtp && DsnEnabled:
                    if (!Dsn.IsValidEnvid(value)) return Replies.BadDsnParameter("ENVID");
                    break;
                case "AUTH" when _esmtp && AdvertisesAuth:
                    break; // RFC 4954 5: the original submitter; we record none, so it is only accepted
                default:
                    return Replies.UnsupportedParameter(Printable(key));
            }
        }
        // A spool short of space says so now, not after the client sent the whole message.
        if (_ctx.SpoolHasRoom?.Invoke(declared) == false) return Replies.InsufficientStorage;
        _tx = new Transaction(path.Address, path.Parameters);
        return Replies.SenderOk;
    }

    async ValueTask<Reply> RcptAsync(string args)
    {
        // "RCPT TO:" is the verb, as "MAIL FROM:" is.
        if (!args.StartsWith("TO:", StringComparison.OrdinalIgnoreCase)) return Replies.Unrecognized("RCPT");
        if (_tx is null) return Replies.NeedMail;
        if (!MailPath.TryParse(args[3..], isSender: false, out var path, _smtpName)) return Replies.RecipientSyntax;
        var notify = Queue.DsnNotify.None;
        string? orcpt = null;
        foreach (var (key, value) in path.Parameters)
        {
            switch (key.ToUpperInvariant())
            {
                case "NOTIFY" when _esmtp && DsnEnabled:
                    if (!Dsn.TryParseNotify(value, out notify)) return Replies.BadNotify;
                    break;
                case "ORCPT" when _esmtp && DsnEnabled:
                    if (!Dsn.IsValidOrcpt(value)) return Replies.BadOrcpt;
                    orcpt = value;
                    break;
                default:
                    return Replies.UnsupportedParameter(Printable(key));
            }
        }
        if (_tx.Recipients.Count >= _ctx.Ruleset.MaxRecipientsPerTransaction) return Replies.TooManyRecipients;

        var decision = await _ctx.Recipients.ResolveAsync(Info, path.Address, _shutdown);
        switch (decision)
        {
            case RecipientDecision.Accept accept:
                _tx.Recipients.Add(new TxRecipient(path.Address, accept, notify, orcpt));
                return Replies.RecipientOk;
            case RecipientDecision.Expanded expanded:
                foreach (var delivery in expanded.Deliveries)
                    _tx.Recipients.Add(new TxRecipient(path.Address, delivery, notify, orcpt));
                return Replies.RecipientOk;
            case RecipientDecision.Refuse refuse:
                // The failed-command line says what the client was told. Why a recipient was refused
                // is for debugging (OpenSMTPD logs no more), but a temporary failure (a table or DNS
                // that did not answer) is the administrator's to mend: that one is a warning.
                string refused = $"{Id:x16} smtp rcpt refused to=<{Printable(path.Address.ToString())}> reason=\"{refuse.Reason}\"";
                if (refuse.Reply.IsTransient) _ctx.Log.Warn(refused);
                else _ctx.Log.Debug(refused);
                return Replies.NamingRecipient(refuse.Reply, path.Address);
            default:
                return Replies.TempFailure;
        }
    }

    /// <summary>DSN (RFC 3461) is offered unless the listener says <c>no-dsn</c>.</summary>
    bool DsnEnabled => !_setup.Security.NoDsn;

    Reply Rset(string args)
    {
        if (args.Length > 0) return Replies.NoArguments("RSET");
        _tx = null;
        return Replies.ResetOk;
    }

    Reply Quit(string args)
    {
        if (args.Length > 0) return Replies.NoArguments("QUIT");
        _quit = true;
        return Replies.Bye(_smtpName);
    }
}
