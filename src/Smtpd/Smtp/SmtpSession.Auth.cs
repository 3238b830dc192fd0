using System.Security.Cryptography;
using Smtpd.Smtp.Auth;
using Smtpd.Smtp.Tls;
using Smtpd.Table;

namespace Smtpd.Smtp;

public sealed partial class SmtpSession
{
    /// <summary>Failed AUTH attempts after which the client is disconnected.</summary>
    const int MaxAuthFailures = 3;

    string? _authUser;
    int _authFailures;

    bool AdvertisesAuth => _setup.Security.Auth != AuthMode.None && _tls is not null;

    /// <summary>
    /// AUTH PLAIN and AUTH LOGIN (RFC 4954), only over TLS: a password never crosses the
    /// network in clear. Each failure is answered after a growing, jittered delay, and the third
    /// one closes the session, so guessing is slow and timing says nothing.
    /// </summary>
    async Task<Reply?> AuthAsync(string args)
    {
        if (_helo is null || _tx is not null) return Replies.NotAllowedNow;
        if (_authUser is not null) return Replies.AlreadyAuthenticated;
        if (_setup.Security.Auth == AuthMode.None) return Replies.NotSupported;
        if (_tls is null) return Replies.EncryptionRequired;
        if (args.Length == 0) return Replies.NoParametersGiven;

        string[] words = args.Split(' ', 2, StringSplitOptions.RemoveEmptyEntries);
        string mechanism = words[0].ToUpperInvariant();
        string? initial = words.Length > 1 ? words[1].Trim() : null;
        string user, password;
        switch (mechanism)
        {
            case "PLAIN":
                string response = initial ?? await PromptAsync("");
                if (response == "*") return Replies.AuthCancelled;
                if (response == "=") response = "";
                if (!SaslPlain.TryDecode(response, out user, out password)) return Replies.AuthSyntax;
                break;
            case "LOGIN":
                string name = initial ?? await PromptAsync("VXNlcm5hbWU6"); // "Username:"
                if (name == "*") return Replies.AuthCancelled;
                if (!SaslPlain.TryBase64(name, out user) || user.Length == 0) return Replies.AuthSyntax;
                string secret = await PromptAsync("UGFzc3dvcmQ6"); // "Password:"
                if (secret == "*") return Replies.AuthCancelled;
                if (!SaslPlain.TryBase64(secret, out password)) return Replies.AuthSyntax;
                break;
            default:
                return Replies.AuthMechanismNotSupported(Printable(mechanism.Length > 20 ? mechanism[..20] : mechanism));
        }

        string table = _setup.Security.AuthTable ?? "";
        var (result, _) = await _ctx.Authenticator.CheckAsync(_setup.Security.AuthTable, user, password, _shutdown);
        string printable = Printable(user);
        switch (result)
        {
            case AuthResult.Ok:
                _authUser = user;
                if (_filters is not null) _filters.AuthMechanism = mechanism;
                _ctx.Log.Info($"{Id:x16} smtp authentication user={printable} result=ok");
                ReportAuth(user, "pass");
                _ctx.Bus.Stats.Auth(OutcomeKind.Ok);
                return Replies.AuthSucceeded;
            case AuthResult.TempFail:
                _ctx.Log.Info($"{Id:x16} smtp authentication user={printable} result=tempfail");
                ReportAuth(user, "error");
                _ctx.Bus.Stats.Auth(OutcomeKind.TempFail);
                _ctx.Log.Warn($"smtp: cannot check credentials for {printable}{(table.Length > 0 ? $" in table {table}" : "")}");
                return Replies.AuthTempFailure;
            default:
                _ctx.Log.Info($"{Id:x16} smtp authentication user={printable} result=permfail");
                ReportAuth(user, "fail");
                _ctx.Bus.Stats.Auth(OutcomeKind.PermFail);
                _authFailures++;
                // 0.5 s, 1 s, 2 s... plus up to half a second of noise.
                var delay = TimeSpan.FromMilliseconds(500 * (1 << Math.Min(_authFailures - 1, 5)) + RandomNumberGenerator.GetInt32(500));
                await Task.Delay(delay, _ctx.Time, _shutdown);
                if (_authFailures < MaxAuthFailures) return Replies.AuthFailed;
                Send(Replies.AuthFailed);
                _ctx.Bus.Stats.Command("AUTH", Replies.AuthFailed.Code);
                Send(Replies.TooManyAuthFailures);
                await FlushAsync();
                _quit = true;
                _closeReason = "auth-failures";
                return null;
        }
    }

    /// <summary>link-auth, in protocol 0.7's order: result, then the user name (last, as it may hold anything).</summary>
    void ReportAuth(string user, string result)
    {
        if (_filters is null) return;
        if (result == "pass") _filters.User = user;
        _filters.Report("link-auth", $"{result}|{Printable(user)}");
    }

    /// <summary>Sends a 334 challenge and reads the client's answer line.</summary>
    async Task<string> PromptAsync(string challenge)
    {
        Send(Replies.AuthChallenge(challenge));
        await FlushAsync();
        var (line, status) = await ReadCommandAsync();
        if (status != LineStatus.Ok) throw new ConnectionClosedException();
        _filters?.Report("protocol-client", "********");
        return line!;
    }

    /// <summary>
    /// What MAIL FROM must satisfy on this listener before a transaction starts: TLS first
    /// (<c>tls-require</c>), authentication first (<c>auth</c>), and with <c>senders</c> an
    /// authenticated user may only use the addresses the table gives them.
    /// </summary>
    async ValueTask<Reply?> CheckMailPolicyAsync(MailAddress sender)
    {
        var security = _setup.Security;
        if (security.Tls == TlsMode.StartTlsRequired && _tls is null) return Replies.StartTlsFirst;
        if (security.Auth == AuthMode.Required && _authUser is null) return Replies.AuthFirst;
        if (security.SendersTable is null || _authUser is null) return null;
        try
        {
            string? allowed = await _ctx.Tables[security.SendersTable].LookupAsync(TableService.MailAddrMap, _authUser, _shutdown);
            if (allowed is not null && SenderAddresses.Allows(allowed, sender)) return null;
            _ctx.Log.Info($"{Id:x16} smtp failed-command command=\"MAIL FROM\" result=\"sender <{Printable(sender.ToString())}> not allowed for user {Printable(_authUser)}\"");
            return Replies.SenderNotOwned;
        }
        catch (TableTempFailException ex)
        {
            _ctx.Log.Warn($"smtp: senders lookup: {ex.Message}");
            return Replies.TempFailure;
        }
    }
}
