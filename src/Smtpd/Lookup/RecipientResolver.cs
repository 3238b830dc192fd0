using Smtpd.Config;
using Smtpd.Mda;
using Smtpd.Smtp;
using Smtpd.Table;

namespace Smtpd.Lookup;

/// <summary>
/// Decides what happens to a recipient at RCPT time: which rule matches, and for local
/// delivery which user receives it. A lookup that fails is a temporary refusal (451), never a 5xx.
/// </summary>
/// <param name="userExists">Returns the canonical name of a local user allowed to receive
/// mail here, or null (the Mda side knows system users and privileges).</param>
public sealed class RecipientResolver
{
    readonly Ruleset _ruleset;
    readonly RuleMatcher _matcher;
    readonly Expander _expander;

    public RecipientResolver(Ruleset ruleset, RuleMatcher matcher, Func<string, string?> userExists, TableSet? tables = null,
        Func<string, SystemUser?>? users = null, Expander.ForwardReader? readForward = null)
    {
        _ruleset = ruleset;
        _matcher = matcher;
        users ??= name => userExists(name) is { } canonical ? new SystemUser(canonical, 1, 1, "/nonexistent", "/bin/sh") : null;
        _expander = new Expander(ruleset, tables ?? new TableSet(ruleset), users, ResolveAsync, readForward);
    }

    public ValueTask<RecipientDecision> ResolveAsync(SessionInfo session, MailAddress rcpt, CancellationToken ct = default) =>
        ResolveAsync(session, rcpt, 0, ct);

    async ValueTask<RecipientDecision> ResolveAsync(SessionInfo session, MailAddress rcpt, int depth, CancellationToken ct)
    {
        Rule? rule;
        try { rule = await _matcher.MatchAsync(session, rcpt, ct); }
        catch (TableTempFailException ex) { return new RecipientDecision.Refuse(Replies.TempFailure, ex.Message); }

        if (rule is null)
            return _matcher.IsLocalDomain(rcpt.Domain)
                ? new RecipientDecision.Refuse(Replies.UnknownUser, "no rule matched")
                : new RecipientDecision.Refuse(Replies.RecipientNotAuthorized, "no rule matched");
        if (rule.Reject)
            return new RecipientDecision.Refuse(Replies.RecipientNotAuthorized, $"rejected by rule at {rule.Location}");

        var action = _ruleset.Actions[rule.ActionName!];
        if (!action.IsLocal)
            return new RecipientDecision.Accept(action, rcpt.ToString(), null, null);
        // Aliases, virtual tables, ~/.forward and the + delimiter (RFC 5233 sub-addressing).
        return await _expander.ExpandAsync(action, rcpt, session, depth, ct);
    }
}
